"""The one way out to Telegram: every Bot API call passes here, through PTB's rate-limiter hook.

- **Pacing**: about 30 messages a second overall, and in each group Telegram's budget of
  20 messages a minute (one per `group_interval` on average, card edits included), counted
  over a sliding window. Calls that post nothing (a tap's answer, a leader check) are
  never held back.
- **Each group has one line** (`GroupLines`, in `bot/grouplines.py`): a reply to
  somebody's command goes first, at once while the window has room; deal cards and
  waiting texts take turns, one per `group_interval` and at most 15 of the window's 20,
  so that 5 a minute stay free for replies however long a burst goes on. A card is drawn
  when its turn comes, so it shows the state of that moment, and a burst of requests for
  one card costs one edit (at most one per `card_interval`). Texts that queued up
  meanwhile go out joined, as few messages as Telegram's limit allows.
- **Retries**: a 429 is waited out. A request that never left (refused connection,
  connect time-out, no free connection) or that Telegram answered with a 5xx is tried
  again with growing pauses. A send whose answer never came is *not* repeated: it may
  have arrived, and a message must appear in a group once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import aiohttp_socks
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.grouplines import TURN, GroupLines

log = logging.getLogger(__name__)

T = TypeVar("T")
Result = bool | dict[str, Any] | list[dict[str, Any]]
Request = Callable[[], Awaitable[Any]]


# Calls that put a message into a chat or change one: Telegram's flood limits count them.
SENDS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendInvoice",
        "copyMessage",
        "forwardMessage",
    }
)
EDITS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)
PACED = SENDS | EDITS
# PTB's updater retries getUpdates itself, with its own back-off; getMe is the check at
# start, where a failure is told at once (the operator, or systemd, starts again).
NOT_RETRIED = frozenset({"getUpdates", "getMe"})
# Transport failures (the `__cause__` bot/http.py raises from) that prove the request never
# reached the Bot API: no connection was made (refused, timed out, no free connection in
# the pool), or the proxy refused, timed out or hung up before the tunnel stood.
NEVER_SENT = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyTimeoutError,
    asyncio.IncompleteReadError,
)


def is_group(chat_id: object) -> bool:
    """Groups, supergroups and channels have negative ids (or an @name); people positive."""
    return isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)


def never_sent(exc: BaseException) -> bool:
    """Whether a failed call provably never reached Telegram (safe to send again)."""
    return isinstance(exc.__cause__, NEVER_SENT)


def answered(exc: NetworkError) -> bool:
    """Whether Telegram (or its gateway) answered with an error status, as for a 5xx: the
    transport itself did not fail."""
    return exc.__cause__ is None or isinstance(exc.__cause__, TelegramError)


class Budget:
    """Telegram's overall budget, about `rate` messages a second: a leaky bucket that lets
    a second's worth go at once, then one per 1/`rate` s. Urgent callers (replies to
    people) are served first, then what goes into groups (cards, announcements), then
    private messages; each kind in the order it came. So in a deadline storm no group's
    announcement waits behind another group's private confirmations (bench/many_groups.py)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._level = 0.0
        self._checked = time.monotonic()
        # Urgent, into a group, private: served in this order.
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, urgent: bool = False, *, private: bool = False) -> None:
        """Take one message from the budget, waiting for it if need be."""
        kind = 0 if urgent else 2 if private else 1
        queue = self._waiting[kind]
        if not any(self._waiting[: kind + 1]) and self._take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        self._serve()
        try:
            await waiter
        finally:
            if not waiter.done():
                queue.remove(waiter)

    def _take(self) -> bool:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._checked) * self.rate)
        self._checked = now
        if self._level + 1 > max(self.rate, 1.0):
            return False
        self._level += 1
        return True

    def _serve(self) -> None:
        """Let waiters go while the budget allows, urgent first; then wait for the next."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for queue in self._waiting:
            while queue and (queue[0].done() or self._take()):
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
        if any(self._waiting):
            delay = (self._level + 1 - max(self.rate, 1.0)) / self.rate
            self._timer = asyncio.get_running_loop().call_later(max(delay, 0.001), self._serve)


class Outbound(BaseRateLimiter[None]):
    """PTB's rate-limiter hook: the pace of every send and the retry policy of every call.

    With `flood_control` off nothing is paced (a self-hosted Bot API server, say), but
    the group lines still keep one message at a time per group and join texts.
    """

    def __init__(
        self,
        *,
        flood_control: bool = True,
        messages_per_second: float = 30,
        group_interval: float = 3.0,
        card_interval: float = 3.0,
        max_retries: int = 10,
        network_retries: int = 5,
        first_pause: float = 0.5,
    ) -> None:
        self.flood_control = flood_control
        self._overall = Budget(messages_per_second) if flood_control else None
        self.groups = GroupLines(
            self._post_text,
            interval=group_interval if flood_control else 0.0,
            card_interval=card_interval,
        )
        self.max_retries = max_retries
        self.network_retries = network_retries
        self.first_pause = first_pause
        self._send_text: Callable[[int, str], Awaitable[None]] | None = None
        # For /metrics: private sends under way, and seconds waited out for a 429.
        self.private_sends = 0
        self.flood_waited = 0.0

    def sends_texts_with(self, send: Callable[[int, str], Awaitable[None]]) -> None:
        """How a joined group text is posted (the service's, which knows the parse mode)."""
        self._send_text = send

    async def _post_text(self, chat_id: int, text: str) -> None:
        assert self._send_text is not None, "Outbound.sends_texts_with was not called"
        await self._send_text(chat_id, text)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Whatever still waits is sent by the service's flush before this."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Result:
        """Pace what posts into a chat; retry what may be retried."""

        async def attempt(urgent: bool = False, private: bool = False) -> Result:
            return await self._attempts(callback, args, kwargs, endpoint, urgent, private)

        chat_id = data.get("chat_id")
        if (
            endpoint in PACED
            and self.groups.interval > 0
            and is_group(chat_id)
            and TURN.get() != chat_id
        ):
            # A reply from a handler: ahead of the rest in its group, and in the overall
            # budget ahead of private messages waiting (a burst's confirmations, say).
            return await self.groups.reply(chat_id, lambda: attempt(urgent=True))  # type: ignore[arg-type]
        if endpoint not in PACED or is_group(chat_id):
            return await attempt()
        self.private_sends += 1
        try:
            return await attempt(private=True)
        finally:
            self.private_sends -= 1

    async def _attempts(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        urgent: bool = False,
        private: bool = False,
    ) -> Result:
        floods = 0
        failures = 0
        pause = self.first_pause
        while True:
            if self._overall is not None and endpoint in PACED:
                await self._overall.acquire(urgent, private=private)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                floods += 1
                if floods > self.max_retries:
                    raise
                wait = _seconds(exc)
                log.warning("%s: flood control, waiting %.1fs", endpoint, wait)
                self.flood_waited += wait
                await asyncio.sleep(wait)
            except BadRequest:
                raise  # the request itself is wrong: sending it again cannot help
            except NetworkError as exc:
                failures += 1
                if not self._may_retry(endpoint, exc) or failures > self.network_retries:
                    raise
                log.warning("%s failed (%s); retry %s in %.1fs", endpoint, exc, failures, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    @staticmethod
    def _may_retry(endpoint: str, exc: NetworkError) -> bool:
        if endpoint in NOT_RETRIED:
            return False
        if never_sent(exc) or answered(exc) or endpoint not in SENDS:
            return True  # not sent, refused by a gateway, or harmless to repeat (an edit)
        log.warning("%s got no answer (%s); not sent again, as it may have arrived", endpoint, exc)
        return False


def _seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for, read whichever type PTB gives it (int, or timedelta
    in PTB's announced next major version)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        retry_after = exc.retry_after
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
