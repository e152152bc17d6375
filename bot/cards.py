"""Coalesced deal-card edits: a burst of taps costs a few edits, and the last shows the truth."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.pacing import Pace

log = logging.getLogger(__name__)


class CardRefresher:
    """At most one edit per card per `interval` seconds; every request is eventually honoured.

    A request marks the card dirty. One task per card edits it (at once if the last edit
    is old enough, else when the interval is up) and loops while new requests came in
    during the edit. Each edit renders the state as it is at that moment, so the final
    edit always shows the true state.
    """

    def __init__(self, edit: Callable[[int], Awaitable[None]], interval: float) -> None:
        self._edit = edit
        self.interval = interval
        self._last: dict[int, float] = {}
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._pace = Pace()

    def request(self, deal_id: int) -> None:
        """Ask for the card to show the current state soon."""
        self._dirty.add(deal_id)
        if deal_id not in self._tasks:
            self._tasks[deal_id] = asyncio.create_task(self._run(deal_id), name=f"card-{deal_id}")

    async def _run(self, deal_id: int) -> None:
        try:
            while deal_id in self._dirty:
                wait = self._last.get(deal_id, float("-inf")) + self.interval - time.monotonic()
                if wait > 0:
                    await self._pace.pause(wait)
                self._dirty.discard(deal_id)
                try:
                    await self._edit(deal_id)
                except Exception:
                    log.exception("card edit failed deal=%s", deal_id)
                self._last[deal_id] = time.monotonic()
        finally:
            del self._tasks[deal_id]

    async def flush(self) -> None:
        """Make every pending edit now (at shutdown, so nothing is left unshown)."""
        async with self._pace.flushing():
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
