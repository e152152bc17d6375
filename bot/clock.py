"""The bot's clock: real UTC time, shifted by an offset that tests and drills can move."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Tells the time; everything that asks "is it due yet" asks this, never datetime.now."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC) + self._offset

    def timestamp(self) -> int:
        """The current time as whole Unix seconds, the way the store keeps times."""
        return int(time.time() + self._offset.total_seconds())

    def to_real(self, moment: datetime) -> datetime:
        """The wall-clock moment at which this clock will show `moment` (for timers)."""
        return moment - self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward and tell whoever keeps timers by it."""
        self._offset += timedelta(seconds=seconds)
        for listener in self._listeners:
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the clock is moved."""
        self._listeners.append(listener)
