"""How much one member, or one group, may ask of the bot: token buckets, by the bot's clock.

A member who repeats a command in a loop must not use up the group's messages (about 20 a
minute, shared by everyone) nor cost a leader check per message; beyond the budget the
bot stays quiet. Pure bookkeeping: the caller passes the time, in seconds.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import Enum

from bot.config import LimitSettings


@dataclass
class _Bucket:
    tokens: float
    at: float


class Budget:
    """`size` actions per `window` seconds for each key, coming back evenly over the window.

    Only keys seen within the last window are kept: a full bucket is the same as none.
    """

    def __init__(self, size: int, window: float) -> None:
        self.size = size
        self.window = window
        self._buckets: dict[Hashable, _Bucket] = {}
        self._pruned = 0.0

    def take(self, key: Hashable, now: float) -> bool:
        """Spend one action of `key`'s budget; False (and nothing spent) if none is left."""
        self._prune(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.size), now)
        else:
            refill = max(0.0, now - bucket.at) * self.size / self.window
            bucket.tokens = min(float(self.size), bucket.tokens + refill)
            bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        # Once a window, drop the buckets that have filled up again since last touched.
        if now - self._pruned < self.window:
            return
        self._pruned = now
        full = [key for key, b in self._buckets.items() if now - b.at >= self.window]
        for key in full:
            del self._buckets[key]


class Verdict(Enum):
    """What to do with a command or a tap."""

    ANSWER = "answer"
    QUIET = "quiet"  # over budget: say nothing
    TELL = "tell"  # over budget, first time this window: log it and tell the member once


class Limits:
    """Budgets for commands (per member; per group for those said in a group) and taps."""

    def __init__(self, settings: LimitSettings, exempt: Iterable[int] = ()) -> None:
        self.exempt = frozenset(exempt)  # the operator's configured leaders
        window = settings.member_window_seconds
        self._in_groups = Budget(settings.member_commands, window)
        self._in_private = Budget(settings.private_commands, window)
        self._groups = Budget(settings.group_commands, settings.group_window_seconds)
        self._taps = Budget(settings.taps_per_second, 1.0)
        self._told = Budget(1, window)  # one notice and one log line per member per window

    def command(self, user_id: int, chat_id: int | None, now: float) -> Verdict:
        """A command from `user_id`, in the group `chat_id` (None: in a private chat)."""
        if user_id in self.exempt:
            return Verdict.ANSWER
        if chat_id is None:
            allowed = self._in_private.take(user_id, now)
        else:
            # The member's budget first: one member's loop never spends the group's.
            allowed = self._in_groups.take(user_id, now) and self._groups.take(chat_id, now)
        return Verdict.ANSWER if allowed else self._refused(user_id, now)

    def tap(self, user_id: int, now: float) -> Verdict:
        """A button tap: only a member hammering one beyond any human pace is held back."""
        if self._taps.take(user_id, now):
            return Verdict.ANSWER
        return self._refused(user_id, now)

    def _refused(self, user_id: int, now: float) -> Verdict:
        return Verdict.TELL if self._told.take(user_id, now) else Verdict.QUIET
