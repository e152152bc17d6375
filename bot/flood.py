"""Flood control: PTB's AIORateLimiter, minus the read-only calls that send nothing."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram._utils.types import JSONDict
from telegram.ext import AIORateLimiter

# Calls that post nothing to a chat: Telegram's per-group message limit does not cover
# them, and a leader check must not wait behind a burst of card edits.
UNLIMITED = frozenset({"getChatMember", "getChatAdministrators", "getChat", "getMe"})


class FloodControl(AIORateLimiter):
    """Limits sends to ~30/s overall and 20/min per group; waits out every 429."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Send through the limiters, except the read-only calls."""
        if endpoint in UNLIMITED:
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
