"""Group messages under Telegram's per-group limit: in order, and joined when they queue up."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from bot.pacing import Pace
from bot.texts import MESSAGE_LIMIT, split_message, utf16_len

log = logging.getLogger(__name__)

SEPARATOR = "\n\n"

T = TypeVar("T")
Request = Callable[[], Awaitable[Any]]


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


class GroupOutbox:
    """One sender per group, paced to the group's limit; the card is drawn when it goes.

    A group takes about 20 messages a minute from a bot, card edits included. A flash
    sale forms fifty rounds in a second: sent one by one, their fifty messages would take
    two and a half minutes, and a card edit would wait behind all of them. Here each group
    has one sender that sends at most once per `interval`:

    - a card post or edit goes first (alternating with texts while both wait), and an
      edit draws the card only when its turn comes, so it shows the state of that moment;
    - texts that queued up meanwhile are joined into as few messages as fit;
    - a card request that returns False sent nothing, and its turn is given back.

    With `interval` 0 (no flood control) nothing waits: everything goes at once.
    """

    def __init__(self, send: Callable[[int, str], Awaitable[None]], *, interval: float) -> None:
        self._send = send
        self.interval = interval
        self._texts: dict[int, list[str]] = {}
        self._requests: dict[int, list[tuple[Request, asyncio.Future[Any]]]] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._last: dict[int, float] = {}
        self._pace = Pace()

    async def post(self, chat_id: int, text: str) -> None:
        """Send `text` to the group: now, or with the next message that goes."""
        if self.interval <= 0:
            await self._send(chat_id, text)
            return
        self._texts.setdefault(chat_id, []).append(text)
        self._wake(chat_id)

    async def turn(self, chat_id: int, request: Callable[[], Awaitable[T]]) -> T:
        """Make `request` (it draws and posts or edits a card in the group) at the group's
        next turn, ahead of waiting texts; its result. A request that returns False sent
        nothing: the turn is not counted."""
        if self.interval <= 0:
            return await request()
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._requests.setdefault(chat_id, []).append((request, done))
        self._wake(chat_id)
        return await done

    def _wake(self, chat_id: int) -> None:
        if chat_id not in self._senders:
            self._senders[chat_id] = asyncio.create_task(
                self._drain(chat_id), name=f"outbox-{chat_id}"
            )

    async def _drain(self, chat_id: int) -> None:
        card_last = False
        try:
            while self._requests.get(chat_id) or self._texts.get(chat_id):
                before = self._last.get(chat_id, -math.inf)
                wait = before + self.interval - time.monotonic()
                if wait > 0:
                    # A flush (at shutdown) skips this pacing; PTB's limiter still paces.
                    await self._pace.pause(wait)
                self._last[chat_id] = time.monotonic()
                requests = self._requests.get(chat_id)
                if requests and not (card_last and self._texts.get(chat_id)):
                    request, done = requests.pop(0)
                    if await _settle(request, done) is False:
                        self._last[chat_id] = before  # nothing went: the turn is given back
                        continue
                    card_last = True
                else:
                    await self._send_waiting(chat_id)
                    card_last = False
        finally:
            del self._senders[chat_id]
            for _, done in self._requests.pop(chat_id, []):
                done.cancel()  # only if the sender itself was cancelled (shutdown)

    async def _send_waiting(self, chat_id: int) -> None:
        """The first message of the waiting texts, joined; the rest wait for their turn."""
        texts = self._texts.pop(chat_id)
        messages = pack(texts)
        if not messages:
            return  # only blank texts: nothing to say
        if len(texts) > 1:
            log.info("group %s: %s texts, %s messages", chat_id, len(texts), len(messages))
        if len(messages) > 1:
            self._texts[chat_id] = messages[1:]
        try:
            await self._send(chat_id, messages[0])
        except Exception:
            log.exception("group message lost chat=%s", chat_id)

    async def drained(self) -> None:
        """Wait, at the group's pace, until every waiting text and card request is through."""
        while self._senders:
            await asyncio.gather(*list(self._senders.values()), return_exceptions=True)

    async def flush(self) -> None:
        """Send every waiting text and card request now (at shutdown), and wait for them."""
        async with self._pace.flushing():
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
