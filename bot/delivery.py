"""How the bot talks to Telegram: flood limits (PTB's AIORateLimiter), 429s waited out,
transient network failures retried with back-off, and updates it cannot read skipped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram._utils.types import JSONDict
from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter, ExtBot

log = logging.getLogger(__name__)

# Calls that post nothing to a chat: Telegram's per-group message limit does not cover
# them, a leader check must not wait behind a burst of card edits, and a tap's answer
# must not wait out another chat's 429 (PTB's limiter pauses everything after one), or
# it would arrive after the query expired.
UNLIMITED = frozenset(
    {"getChatMember", "getChatAdministrators", "getChat", "getMe", "answerCallbackQuery"}
)
# PTB's updater retries getUpdates itself, with its own back-off.
NOT_RETRIED = frozenset({"getUpdates"})

Result = bool | JSONDict | list[JSONDict]


class FloodControl(AIORateLimiter):
    """Limits sends to ~30/s overall and 20/min per group; waits out every 429; retries
    5xx answers, time-outs and refused connections a few times with growing pauses."""

    def __init__(self, *args: Any, network_retries: int = 5, first_pause: float = 0.5, **kw: Any):
        super().__init__(*args, **kw)
        self.network_retries = network_retries
        self.first_pause = first_pause

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Send through the limiters (except read-only calls), retrying transient failures."""
        pause = self.first_pause
        for attempt in range(self.network_retries + 1):
            try:
                if endpoint in UNLIMITED:
                    return await callback(*args, **kwargs)
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                raise  # the request itself is wrong: sending it again cannot help
            except NetworkError as exc:
                if endpoint in NOT_RETRIED or attempt == self.network_retries:
                    raise
                log.warning("%s failed (%s); retry %s in %.1fs", endpoint, exc, attempt + 1, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
        raise AssertionError("unreachable")


class TolerantBot(ExtBot[Any]):
    """An ExtBot whose polling survives an update it cannot parse.

    PTB parses a getUpdates batch as a whole: one update it cannot read (a field from a
    newer Bot API, say) fails the batch, and since the offset never moves past it, the
    bot would fetch that batch forever. Here the batch is read again one update at a
    time and an unreadable one becomes an empty Update with its id, so polling moves on.
    """

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Fetch updates; on a parse failure, parse them one by one and skip the bad."""
        try:
            return await super().get_updates(*args, **kwargs)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass
        offset = kwargs.get("offset", args[0] if args else None)
        raw = await self._post("getUpdates", {"offset": offset, "timeout": 0})
        updates = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
                continue
            try:
                update = Update.de_json(item, self)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                log.error("skipping unreadable update %s: %r", item["update_id"], exc)
                update = Update(update_id=item["update_id"])
            if update is not None:
                updates.append(update)
        return tuple(updates)
