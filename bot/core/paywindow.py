"""The payment window (/settings paywithin 24h): how long a confirmed order may stay unpaid
before it is released, and when its member is reminded, once, before that."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The deal form's durations, in any of its languages: 24h, 90m, 2d, 1d12h, 2小时, 3д …
from bot.core.forms import _DURATION, _FULL_WIDTH
from bot.core.models import Deal, Offer, OrderRow

MIN_WINDOW = 3600  # an hour: a member must have a chance to see the confirmation
MAX_WINDOW = 30 * 86400
REMIND_AT_LEAST = 3600  # the reminder comes at least this long before the end, where it can


def parse_window(text: str) -> int:
    """`24h`, `90m`, `2d`, `1d12h` (or `24小时`, `2д` …) as seconds; `0` is off (0).
    ValueError for anything else, or a window under an hour or over 30 days."""
    word = "".join(text.translate(_FULL_WIDTH).casefold().split())
    if word == "0":
        return 0
    match = _DURATION.fullmatch(word)
    if match is None or not any(match.groups()):
        raise ValueError(text)
    seconds = (
        int(match["days"] or 0) * 86400
        + int(match["hours"] or 0) * 3600
        + int(match["minutes"] or 0) * 60
    )
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise ValueError(text)
    return seconds


def reminder_lead(window: int) -> int:
    """How long before the end of a window the member is reminded: a quarter of it, but at
    least an hour, and never in the first half of the window (a 24h window reminds 6 hours
    before the end, 2h one hour before, 1h half an hour before)."""
    return max(window // 4, min(REMIND_AT_LEAST, window // 2))


class Step(StrEnum):
    """What an unpaid order's window calls for now."""

    WAIT = "wait"
    REMIND = "remind"
    RELEASE = "release"


@dataclass(frozen=True)
class Awaiting:
    """A confirmed order neither paid nor claimed paid, in a group with a payment window."""

    order_id: int
    deal_id: int
    chat_id: int
    confirmed_at: int  # when its round formed (or the deal closed and confirmed it)
    window: int  # the group's window, in seconds
    window_set_at: int  # when the leader set the window
    reminded: bool

    @property
    def due_at(self) -> int:
        """When the order is released: a window after it was confirmed, or after the
        leader set the window if that came later (nobody loses an order to a window
        set after the fact sooner than a whole window from then)."""
        return max(self.confirmed_at, self.window_set_at) + self.window

    @property
    def remind_at(self) -> int:
        """When its member is reminded."""
        return self.due_at - reminder_lead(self.window)

    def step(self, now: int) -> Step:
        """Release it once due; remind its member once, from the reminder's time on."""
        if now >= self.due_at:
            return Step.RELEASE
        if not self.reminded and now >= self.remind_at:
            return Step.REMIND
        return Step.WAIT


@dataclass(frozen=True)
class Released:
    """Orders of one deal released unpaid, and the freed units offered to its waitlist."""

    deal: Deal
    rows: list[OrderRow] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
