"""Taps first: background notifications give way while taps are being answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class TapsFirst:
    """Counts the taps being answered; notifications wait for a lull, within patience.

    A tap's answer must arrive within seconds or Telegram shows the member a spinner;
    a round's private confirmations can come a moment later. In a flash sale the bot
    formed rounds (and started their confirmations) while hundreds of taps still
    waited for an answer, and the two shared one CPU. Now a confirmation waits until no
    tap is in hand, or `patience` seconds at most, so a steady stream of taps never
    holds notifications back for long. Five seconds covers a 1,000-tap burst on a small
    machine (measured with bench/flash_sale.py: 14 % of the bot's CPU during the burst
    went to confirmations with 1 s), and 500 confirmations take 17 s at Telegram's pace
    whenever they start.
    """

    def __init__(self, patience: float = 5.0) -> None:
        self.patience = patience
        self._taps = 0
        self._lull = asyncio.Event()
        self._lull.set()

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """While a tap is being answered."""
        self._taps += 1
        self._lull.clear()
        try:
            yield
        finally:
            self._taps -= 1
            if not self._taps:
                self._lull.set()

    def deadline(self) -> float:
        """The latest moment (event-loop time) a batch of notifications starting now waits."""
        return asyncio.get_running_loop().time() + self.patience

    async def lull(self, deadline: float | None = None) -> None:
        """Return when no tap is being answered, or at `deadline` (default: `patience`
        seconds from now): a round's confirmations share one deadline."""
        if self._taps:
            if deadline is None:
                deadline = self.deadline()
            left = deadline - asyncio.get_running_loop().time()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lull.wait(), left)
