"""What the bot counts for Prometheus (`/metrics`, served by bot/ops.py).

Each application has a registry of its own (tests run many bots in one process, and each
worker of several exposes its own numbers). The hot path only increments counters and
observes histograms; queue depths and the flood-control wait are read from the outbound
path when Prometheus scrapes, and the open deals are counted in the store then.

- `groupbuy_updates_total{kind}`: updates handled (tap, command, message, edited,
  member, other)
- `groupbuy_tap_answer_seconds`: from a tap's arrival to Telegram taking its answer
- `groupbuy_bot_api_calls_total{method,outcome}`: every HTTP call to the Bot API (ok,
  429, 4xx, 5xx, timeout, error: no connection)
- `groupbuy_flood_wait_seconds_total`: time waited out because Telegram answered 429
- `groupbuy_queue_depth{queue}`: group_sends, private_sends and card_edits waiting
- `groupbuy_deals_open`: open deals in the store
- `groupbuy_rounds_total{outcome}`: rounds with members that formed or failed
- `groupbuy_orders_total{outcome}`: orders confirmed (their round formed) or cancelled
  (their round failed, or the deal was cancelled)
- `groupbuy_store_seconds{operation}`: store latency, each read statement and each write
  transaction
- `groupbuy_up_since_seconds`: when this bot started (Unix time)

Besides, the process's own (`process_resident_memory_bytes`, `process_cpu_seconds_total`,
`process_open_fds`, …).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from bot import logs
from bot.clock import Clock
from bot.core.models import CancelledDeal, ClosedRound, RoundStatus

if TYPE_CHECKING:
    from bot.outbound import Outbound

# The `_created` series of every counter say nothing an operator needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

KINDS = ("tap", "command", "message", "edited", "member", "other")
OUTCOMES = ("ok", "429", "4xx", "5xx", "timeout", "error")
# A tap's answer must come within seconds (Telegram shows a spinner meanwhile, and
# forgets the tap after about 15 s).
TAP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
STORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The Bot API counts as reachable while it answered within this many seconds (of the
# bot's clock), or while its last call succeeded.
API_WINDOW = 60.0

# When the update this task handles arrived (time.monotonic()).
_ARRIVED: ContextVar[float | None] = ContextVar("update_arrived", default=None)


class Metrics:
    """Every number of one bot, in its own registry, and what readiness needs to know of
    the Bot API."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.registry = registry = CollectorRegistry()
        self.updates = Counter(
            "groupbuy_updates", "Updates handled, by kind", ["kind"], registry=registry
        )
        self.tap_answer = Histogram(
            "groupbuy_tap_answer_seconds",
            "Seconds from a tap's arrival to Telegram taking its answer",
            buckets=TAP_BUCKETS,
            registry=registry,
        )
        self.api_calls = Counter(
            "groupbuy_bot_api_calls",
            "Bot API calls (HTTP requests), by method and outcome",
            ["method", "outcome"],
            registry=registry,
        )
        self.deals_open = Gauge("groupbuy_deals_open", "Open deals in the store", registry=registry)
        self.rounds = Counter(
            "groupbuy_rounds",
            "Rounds with members that ended, by outcome (formed, failed)",
            ["outcome"],
            registry=registry,
        )
        self.orders = Counter(
            "groupbuy_orders",
            "Orders that ended, by outcome (confirmed, cancelled)",
            ["outcome"],
            registry=registry,
        )
        self.store = Histogram(
            "groupbuy_store_seconds",
            "Store latency: each read statement and each write transaction",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=registry,
        )
        self.up_since = Gauge(
            "groupbuy_up_since_seconds", "When this bot started (Unix time)", registry=registry
        )
        self.up_since.set(time.time())
        ProcessCollector(registry=registry)
        # Children looked up once: the hot path only increments.
        self._kinds = {kind: self.updates.labels(kind) for kind in KINDS}
        self._calls: dict[tuple[str, str], Any] = {}
        self._store = {op: self.store.labels(op) for op in ("read", "write")}
        self._formed, self._failed = self.rounds.labels("formed"), self.rounds.labels("failed")
        self._confirmed = self.orders.labels("confirmed")
        self._cancelled = self.orders.labels("cancelled")
        # The Bot API as last heard from: when it last answered (bot clock), and whether
        # the last call failed (no answer, or a 5xx from Telegram's gateway).
        self.api_answered_at: float | None = None
        self.api_failing: str | None = None

    # -- updates ----------------------------------------------------------------------

    def handled(self, update: object) -> None:
        """Count an update by its kind."""
        self._kinds[kind_of(update)].inc()

    # -- Bot API calls (bot/http.py reports each) ----------------------------------------

    def answered(self, url: str, status: int) -> None:
        """A Bot API call got an HTTP answer."""
        method = url.rpartition("/")[2]
        if status < 400:
            outcome = "ok"
        elif status == 429:
            outcome = "429"
        else:
            outcome = "4xx" if status < 500 else "5xx"
        self._call(method, outcome).inc()
        if outcome == "5xx":
            self.api_failing = f"{method} answered {status}"
            return
        self.api_answered_at = self._now()
        self.api_failing = None
        if outcome == "ok" and method == "answerCallbackQuery":
            arrived = _ARRIVED.get()
            if arrived is not None:
                self.tap_answer.observe(time.monotonic() - arrived)

    def failed(self, url: str, outcome: str) -> None:
        """A Bot API call got no answer: `timeout`, or `error` (no connection)."""
        method = url.rpartition("/")[2]
        self._call(method, outcome).inc()
        self.api_failing = f"{method}: {'timed out' if outcome == 'timeout' else 'no connection'}"

    def _call(self, method: str, outcome: str) -> Any:
        child = self._calls.get((method, outcome))
        if child is None:
            child = self._calls[(method, outcome)] = self.api_calls.labels(method, outcome)
        return child

    def api_trouble(self, window: float = API_WINDOW) -> str | None:
        """Why the Bot API does not count as reachable, or None: it does while its last
        call succeeded, or while it answered within `window` seconds."""
        if self.api_answered_at is None:
            return "the Bot API has not answered yet"
        if self.api_failing is None:
            return None
        silent = self._now() - self.api_answered_at
        if silent <= window:
            return None
        return f"no answer from the Bot API for {silent:.0f} s (last: {self.api_failing})"

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # -- the store (storage/engines.py reports each operation) --------------------------

    def store_took(self, operation: str, seconds: float) -> None:
        """A read statement or a write transaction took `seconds`."""
        self._store[operation].observe(seconds)

    # -- deals (the service reports each) ---------------------------------------------

    def round_closed(self, closed: ClosedRound) -> None:
        """A round ended: with members, it formed (orders confirmed) or failed (cancelled)."""
        if not closed.lines:
            return  # an empty round simply ends
        if closed.round.status is RoundStatus.FORMED:
            self._formed.inc()
            self._confirmed.inc(len(closed.lines))
        else:
            self._failed.inc()
            self._cancelled.inc(len(closed.lines))

    def deal_cancelled(self, cancelled: CancelledDeal) -> None:
        """The leader cancelled a deal, and with it these orders."""
        self._cancelled.inc(len(cancelled.lines))

    # -- the outbound path, read at each scrape ----------------------------------------

    def watch(self, outbound: Outbound) -> None:
        """Expose the outbound path's queues and its flood-control wait."""
        self.registry.register(_OutboundCollector(outbound))


class _OutboundCollector:
    """The outbound path's numbers, read when Prometheus scrapes: nothing on the hot path."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    def collect(self) -> Iterable[Metric]:
        group_sends, card_edits = self.outbound.groups.depths()
        queues = GaugeMetricFamily(
            "groupbuy_queue_depth",
            "Sends waiting in the outbound path (group_sends, private_sends, card_edits)",
            labels=["queue"],
        )
        queues.add_metric(["group_sends"], group_sends)
        queues.add_metric(["private_sends"], self.outbound.private_sends)
        queues.add_metric(["card_edits"], card_edits)
        yield queues
        yield CounterMetricFamily(
            "groupbuy_flood_wait_seconds",
            "Seconds waited because Telegram answered 429 (flood control)",
            value=self.outbound.flood_waited,
        )


def kind_of(update: object) -> str:
    """tap, command, message, edited, member or other."""
    if not isinstance(update, Update):
        return "other"
    if update.callback_query is not None:
        return "tap"
    if (message := update.message) is not None:
        text = message.text or message.caption or ""
        return "command" if text.startswith("/") else "message"
    if update.edited_message is not None:
        return "edited"
    if update.chat_member is not None or update.my_chat_member is not None:
        return "member"
    return "other"


class StampedQueue(asyncio.Queue[object]):
    """PTB's update queue, noting when each update arrived: a tap's latency includes its
    wait for a free handler slot."""

    LIMIT = 100_000  # notes kept at most (updates dropped at shutdown leave theirs)

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[int, float] = {}

    def put_nowait(self, item: object) -> None:
        if isinstance(item, Update):
            if len(self.arrived) >= self.LIMIT:
                self.arrived.clear()
            self.arrived[item.update_id] = time.monotonic()
        super().put_nowait(item)

    def arrival(self, update: object) -> float:
        """When the update arrived (now, if it never passed this queue)."""
        if isinstance(update, Update):
            return self.arrived.pop(update.update_id, None) or time.monotonic()
        return time.monotonic()


class CountedUpdates(SimpleUpdateProcessor):
    """PTB's concurrent update processing, with each update counted, timed from its
    arrival, and named in the log lines of its handling."""

    def __init__(
        self, metrics: Metrics, queue: StampedQueue, max_concurrent_updates: int = 256
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.metrics = metrics
        self.queue = queue

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        arrived = _ARRIVED.set(self.queue.arrival(update))
        named = logs.bind_update(update)
        try:
            await coroutine
        finally:
            logs.unbind(named)
            _ARRIVED.reset(arrived)
            self.metrics.handled(update)
