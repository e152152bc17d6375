"""Each group's line of messages: a reply to somebody goes first, at once while Telegram's
20-a-minute window has room; deal cards and waiting texts take turns, one per
`group_interval` and at most 15 of the window's 20. A card is drawn when its turn comes,
and texts that queued up meanwhile go out joined (`bot/outbound.py` plugs this into every
Bot API call)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram.error import Forbidden

from bot.texts import MESSAGE_LIMIT, split_message, utf16_len

log = logging.getLogger(__name__)

T = TypeVar("T")
Request = Callable[[], Awaitable[Any]]

SEPARATOR = "\n\n"

# Telegram's budget in a group: this many messages (card edits included) in a window of
# this many average intervals (20 a minute), and how many of them cards and announcements
# leave to replies to people's commands.
WINDOW_SENDS = 20
REPLIES_RESERVED = 5

# The group whose turn is running in this task: its own sends skip the line they are in.
TURN: contextvars.ContextVar[int | str | None] = contextvars.ContextVar("turn", default=None)


def pack(texts: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """The texts as few messages as Telegram's limit allows, in order, a blank line apart.

    A text never straddles two messages unless it is longer than a message on its own.
    """
    messages: list[str] = []
    for text in texts:
        for part in split_message(text, limit):
            if messages and utf16_len(messages[-1]) + len(SEPARATOR) + utf16_len(part) <= limit:
                messages[-1] += SEPARATOR + part
            else:
                messages.append(part)
    return messages


class Pause:
    """Waits that a shutdown flush cuts short (at shutdown nothing waits out a pace)."""

    def __init__(self) -> None:
        self.flushing = asyncio.Event()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Sleep `seconds`, less if a flush starts (or `wake` is set) meanwhile."""
        if self.flushing.is_set() or seconds <= 0:
            return
        waits = [asyncio.ensure_future(self.flushing.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    @contextlib.asynccontextmanager
    async def flush(self) -> AsyncIterator[None]:
        """While the body waits for the work under way, no pause waits."""
        self.flushing.set()
        try:
            yield
        finally:
            self.flushing.clear()


@dataclass
class _Line:
    """What waits in one group, and when it last got a message."""

    replies: list[tuple[Request, asyncio.Future[Any]]] = field(default_factory=list)
    cards: list[tuple[Request, asyncio.Future[Any]]] = field(default_factory=list)
    refreshes: dict[object, Request] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    last: float = -math.inf  # when the last card or text started to go
    sent: deque[float] = field(default_factory=deque)  # every send within the window
    card_last: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    posted: int = 0  # texts posted so far
    # (number of a text, resolved once it has gone): a round's private messages follow it.
    gone: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)

    def texts_gone(self, upto: int) -> None:
        """The texts numbered up to `upto` have gone (or failed for good)."""
        while self.gone and self.gone[0][0] <= upto:
            _, done = self.gone.pop(0)
            if not done.done():
                done.set_result(None)

    def waiting(self) -> bool:
        return bool(self.replies or self.cards or self.refreshes or self.texts)


class GroupLines:
    """One sender per group, within `window_sends` messages per `window_sends` × `interval`
    seconds (Telegram's 20 a minute): replies first, at once while the window has room;
    then cards (drawn at their turn, each card at most once per `card_interval`) and joined
    texts taking turns, one per `interval` while they leave `reserved` of the window free
    for replies.

    `send(chat_id, text)` posts a joined text; the cards' requests post or edit themselves.
    A card request that returns False sent nothing, and its turn is given back.
    """

    def __init__(
        self,
        send: Callable[[int, str], Awaitable[None]],
        *,
        interval: float,
        card_interval: float = 0.0,
        window_sends: int = WINDOW_SENDS,
        reserved: int = REPLIES_RESERVED,
    ) -> None:
        assert 0 <= reserved < window_sends
        self._send = send
        self.interval = interval
        self.card_interval = card_interval
        self.window = interval * window_sends
        self.window_sends = window_sends
        self.background_sends = window_sends - reserved
        self._lines: dict[int | str, _Line] = {}
        self._senders: dict[int | str, asyncio.Task[None]] = {}
        self._card_times: dict[tuple[int | str, object], float] = {}
        self._pause = Pause()

    def post(self, chat_id: int, text: str) -> asyncio.Future[None]:
        """Send `text` to the group with its next message; the future is resolved once it
        has gone (or failed: it is never sent twice)."""
        line = self._line(chat_id)
        line.texts.append(text)
        line.posted += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.gone.append((line.posted, done))
        self._wake(chat_id)
        return done

    async def turn(self, chat_id: int, request: Callable[[], Awaitable[T]]) -> T:
        """Make `request` (it posts a card in the group) at the group's next card turn."""
        return await self._queue(chat_id, self._line(chat_id).cards, request)

    async def reply(self, chat_id: int | str, request: Callable[[], Awaitable[T]]) -> T:
        """Make `request` (an answer to somebody) at the group's very next turn."""
        return await self._queue(chat_id, self._line(chat_id).replies, request)

    def refresh(self, chat_id: int, key: object, draw: Request) -> None:
        """Have the card `key` redrawn at a coming turn; requests made before that turn
        are one redraw."""
        self._line(chat_id).refreshes[key] = draw
        self._wake(chat_id)

    async def _queue(
        self,
        chat_id: int | str,
        queue: list[tuple[Request, asyncio.Future[Any]]],
        request: Callable[[], Awaitable[T]],
    ) -> T:
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue.append((request, done))
        self._wake(chat_id)
        return await done

    def _line(self, chat_id: int | str) -> _Line:
        line = self._lines.get(chat_id)
        if line is None:
            line = self._lines[chat_id] = _Line()
        return line

    def _wake(self, chat_id: int | str) -> None:
        self._lines[chat_id].wake.set()
        if chat_id not in self._senders:
            self._senders[chat_id] = asyncio.create_task(
                self._drain(chat_id), name=f"group-line-{chat_id}"
            )

    async def _drain(self, chat_id: int | str) -> None:
        line = self._lines[chat_id]
        line.card_last = False  # a card asked for before the texts goes first
        token = TURN.set(chat_id)
        try:
            while line.waiting():
                line.wake.clear()
                now = time.monotonic()
                if line.replies:
                    if await self._paced(self._room_in(line, self.window_sends, now)):
                        continue
                    request, done = line.replies.pop(0)
                    await _settle(request, done)
                    self._count(line)
                    continue
                wait = max(
                    line.last + self.interval - now,
                    self._room_in(line, self.background_sends, now),
                )
                if await self._paced(wait, line.wake):
                    continue  # a reply that came meanwhile goes first
                card = None if line.card_last and line.texts else self._next_card(chat_id, line)
                if card is not None:
                    if await card() is False:
                        continue  # nothing went: the turn is given back
                    line.card_last = True
                elif line.texts:
                    if not await self._send_waiting(chat_id, line):
                        continue  # only blank texts: nothing went
                    line.card_last = False
                else:
                    await self._pause.sleep(self._card_wait(chat_id, line), line.wake)
                    continue
                self._count(line)
                line.last = now  # the pace runs from when a send starts, as it always did
        finally:
            TURN.reset(token)
            del self._senders[chat_id]
            for _, done in line.replies + line.cards:
                done.cancel()  # only if the sender itself was cancelled (shutdown)
            if not line.texts:
                line.texts_gone(line.posted)

    async def _paced(self, wait: float, wake: asyncio.Event | None = None) -> bool:
        """Wait `wait` seconds (or until `wake`) if the pace asks for it; whether it did.
        A flush at shutdown waits for nothing."""
        if wait <= 0 or self._pause.flushing.is_set():
            return False
        await self._pause.sleep(wait, wake)
        return True

    def _room_in(self, line: _Line, allowed: int, now: float) -> float:
        """Seconds until fewer than `allowed` sends are left in the group's window."""
        while line.sent and line.sent[0] <= now - self.window:
            line.sent.popleft()
        excess = len(line.sent) - allowed
        return 0.0 if excess < 0 else line.sent[excess] + self.window - now

    @staticmethod
    def _count(line: _Line) -> None:
        """Count a send in the window, as of when it was answered (Telegram counted it by
        then, so the window never ends sooner here than there)."""
        line.sent.append(time.monotonic())

    def _next_card(self, chat_id: int | str, line: _Line) -> Request | None:
        """The first card request whose turn it may be: a new card, or a redraw of a card
        not drawn within `card_interval`."""
        if line.cards:
            request, done = line.cards.pop(0)
            return lambda: _settle(request, done)
        now = time.monotonic()
        for key, draw in line.refreshes.items():
            drawn = self._card_times.get((chat_id, key), -math.inf)
            if self._pause.flushing.is_set() or drawn + self.card_interval <= now:
                del line.refreshes[key]
                return self._redraw(chat_id, key, draw)
        return None

    def _redraw(self, chat_id: int | str, key: object, draw: Request) -> Request:
        async def redraw() -> Any:
            try:
                sent = await draw()
            except Forbidden as exc:  # removed from the group: expected, no traceback
                log.warning("card redraw refused chat=%s card=%s: %s", chat_id, key, exc)
                return None
            except Exception:
                log.exception("card redraw failed chat=%s card=%s", chat_id, key)
                return None
            if sent is not False:
                self._card_times[(chat_id, key)] = time.monotonic()
                if len(self._card_times) > 10_000:
                    del self._card_times[next(iter(self._card_times))]
            return sent

        return redraw

    def _card_wait(self, chat_id: int | str, line: _Line) -> float:
        """Seconds until the first waiting redraw may go."""
        now = time.monotonic()
        times = (
            self._card_times.get((chat_id, key), -math.inf) + self.card_interval - now
            for key in line.refreshes
        )
        return max(0.0, min(times, default=0.0))

    async def _send_waiting(self, chat_id: int | str, line: _Line) -> bool:
        """The first message of the waiting texts, joined; the rest wait for their turn.
        False if there was nothing to say (only blank texts)."""
        texts, line.texts = line.texts, []
        upto = line.posted
        messages = pack(texts)
        if not messages:
            line.texts_gone(upto)
            return False
        if len(texts) > 1:
            log.info("group %s: %s texts, %s messages", chat_id, len(texts), len(messages))
        line.texts = messages[1:] + line.texts
        try:
            await self._send(int(chat_id), messages[0])
        except Forbidden as exc:  # removed from the group: expected, no traceback
            log.warning("group message refused chat=%s: %s", chat_id, exc)
        except Exception:
            log.exception("group message lost chat=%s", chat_id)
        if len(messages) == 1:
            line.texts_gone(upto)
        return True

    def depths(self) -> tuple[int, int]:
        """(messages waiting in every group's line, card redraws waiting): for /metrics."""
        lines = list(self._lines.values())
        sends = sum(len(line.replies) + len(line.cards) + len(line.texts) for line in lines)
        return sends, sum(len(line.refreshes) for line in lines)

    async def drained(self) -> None:
        """Wait, at the groups' pace, until everything waiting has gone."""
        while self._senders:
            await asyncio.gather(*list(self._senders.values()), return_exceptions=True)

    async def flush(self) -> None:
        """Send everything waiting now (at shutdown), and wait for it."""
        async with self._pause.flush():
            await self.drained()


async def _settle(request: Request, done: asyncio.Future[Any]) -> Any:
    """Make a request and hand its outcome to whoever waits for it; its result (None if
    it failed)."""
    try:
        result = await request()
    except asyncio.CancelledError:
        done.cancel()
        raise
    except Exception as exc:
        if not done.done():
            done.set_exception(exc)
        return None
    if not done.done():
        done.set_result(result)
    return result
