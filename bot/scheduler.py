"""Timers for deadlines, reminders and timed sales' openings; the store is the truth, the
timers only a wake-up call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.clock import Clock
from bot.core import rounds
from bot.core.models import Deal
from storage.store import Store

log = logging.getLogger(__name__)

DealAction = Callable[[int], Awaitable[None]]


class Deadlines:
    """One APScheduler job per open deal's deadline (and one for its reminder, and one for
    a timed sale's opening).

    At start, and whenever the clock is moved, every open deal is read back from the
    store: overdue ones are closed at once, timed sales whose start has passed are opened
    at once, the rest re-armed. Jobs are created with
    ``misfire_grace_time=None`` because APScheduler otherwise drops a job that fires
    more than a second late, and a deadline must never be skipped. A periodic sweep does
    the same for deals other workers posted, so with several workers on one database
    every deadline is kept even when the worker that armed it is gone.
    """

    def __init__(
        self,
        clock: Clock,
        store: Store,
        *,
        on_due: DealAction,
        on_remind: DealAction,
        on_open: DealAction,
        on_opened: Callable[[Deal], None],
        remind_before: int,
        tick_seconds: float = 30,
    ) -> None:
        self.clock = clock
        self.store = store
        self.on_due = on_due
        self.on_remind = on_remind
        self.on_open = on_open
        # Redraws the card of a timed sale already opened: its opening was recorded, but
        # the card that shows Join may not have been drawn (a crash, a failed edit).
        self.on_opened = on_opened
        self.remind_before = remind_before
        self.tick_seconds = tick_seconds
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._resync_task: asyncio.Task[None] | None = None
        self._ticks: list[Callable[[], Awaitable[None]]] = []
        self.last_tick: float | None = None  # time.monotonic() of the last sweep (/readyz)

    def every_minute(self, action: Callable[[], Awaitable[None]]) -> None:
        """Also run `action` twice a minute and after every resync (daily summaries use it)."""
        self._ticks.append(action)

    async def start(self) -> None:
        """Start the timers and honour every deadline missed while the bot was down."""
        self.scheduler.start()
        self.clock.on_change(self._on_clock_moved)
        self.scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.tick_seconds,
            id="tick",
            coalesce=True,
            max_instances=1,
        )
        await self.resync()

    def shutdown(self) -> None:
        """Stop the timers (pending jobs are re-armed from the store at the next start)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _on_clock_moved(self) -> None:
        self._resync_task = asyncio.get_running_loop().create_task(self.resync())

    async def resync(self) -> None:
        """Close overdue deals now, arm timers for the others, and redraw the cards of
        timed sales already opened."""
        now = self.clock.timestamp()
        for deal in await self.store.deals.all_open_deals():
            if deal.deadline > now:
                self.arm(deal)
                if deal.starts_at is not None and deal.opened_at is not None:
                    self.on_opened(deal)
                await self._open_if_due(deal, now)
                continue
            log.info("deadline passed deal=%s; closing now", deal.id)
            try:
                await self.on_due(deal.id)
            except Exception:
                log.exception("closing overdue deal failed deal=%s", deal.id)
        await self._tick()

    async def _tick(self) -> None:
        self.last_tick = time.monotonic()
        await self._sweep()
        for action in self._ticks:
            try:
                await action()
            except Exception:
                log.exception("periodic job failed: %s", action)

    async def _sweep(self) -> None:
        """Deals this process never armed (another worker posted them, and perhaps died):
        close the overdue ones, arm the rest. Closing is idempotent, so several workers
        sweeping at once close each round exactly once."""
        now = self.clock.timestamp()
        for deal in await self.store.deals.all_open_deals():
            if deal.deadline <= now:
                try:
                    await self.on_due(deal.id)
                except Exception:
                    log.exception("closing overdue deal failed deal=%s", deal.id)
            else:
                if self.scheduler.get_job(f"deadline:{deal.id}") is None:
                    self.arm(deal)
                await self._open_if_due(deal, now)

    async def _open_if_due(self, deal: Deal, now: int) -> None:
        """A timed sale whose start has passed but whose opening nobody announced (the bot
        was down, or another worker armed it and died): open it now. Opening is idempotent."""
        if deal.starts_at is None or deal.opened_at is not None or deal.starts_at > now:
            return
        try:
            await self.on_open(deal.id)
        except Exception:
            log.exception("opening a timed sale failed deal=%s", deal.id)

    async def settled(self) -> None:
        """Wait for a resync started by a clock move (tests use this)."""
        if self._resync_task is not None:
            await self._resync_task

    def arm(self, deal: Deal) -> None:
        """Set (or reset) the deal's deadline and reminder timers, and a timed sale's
        opening (one whose start has passed is opened by the resync and the sweep)."""
        self._add(f"deadline:{deal.id}", deal.deadline, self.on_due, deal.id)
        now = self.clock.timestamp()
        if deal.starts_at is not None and deal.opened_at is None and deal.starts_at > now:
            self._add(f"open:{deal.id}", deal.starts_at, self.on_open, deal.id)
        # Counted from the start: no reminder before a timed sale opens.
        remind = rounds.reminder_at(
            created_at=deal.opens_from, deadline=deal.deadline, before=self.remind_before
        )
        if remind is not None and now < deal.deadline:
            self._add(f"reminder:{deal.id}", remind, self.on_remind, deal.id)

    def disarm(self, deal_id: int) -> None:
        """Drop the deal's timers (it closed early)."""
        for job_id in (f"deadline:{deal_id}", f"reminder:{deal_id}", f"open:{deal_id}"):
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)

    def _add(self, job_id: str, at: int, action: DealAction, deal_id: int) -> None:
        moment = self.clock.to_real(datetime.fromtimestamp(at, UTC))
        self.scheduler.add_job(
            self._fire,
            DateTrigger(run_date=moment, timezone=UTC),
            args=(job_id, action, deal_id),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    @staticmethod
    async def _fire(job_id: str, action: DealAction, deal_id: int) -> None:
        try:
            await action(deal_id)
        except Exception:
            log.exception("timer failed job=%s", job_id)
