"""A pace that a shutdown flush cuts short: shared by the card refresher and the outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Pace:
    """Pauses between sends, unless a flush is under way (at shutdown nothing waits)."""

    def __init__(self) -> None:
        self._flushing = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if a flush starts meanwhile; not at all during one."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushing.wait(), seconds)

    @contextlib.asynccontextmanager
    async def flushing(self) -> AsyncIterator[None]:
        """While the body waits for the work under way, every pause is skipped."""
        self._flushing.set()
        try:
            yield
        finally:
            self._flushing.clear()
