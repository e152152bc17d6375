"""The round state machine: pure rules for joining, forming, failing and closing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.errors import UserError
from bot.core.models import DealStatus, RoundStatus


class Verdict(StrEnum):
    """What a join means for the open round."""

    NONE = "none"
    FORM = "form"  # rounds mode reached min: close it confirmed now
    TIP = "tip"  # tipping mode reached min for the first time: announce it
    SELL_OUT = "sell_out"  # tipping mode has no stock left: close it now


class CloseChoice(StrEnum):
    """How a leader ends a deal early."""

    CONFIRM = "confirm"
    CANCEL = "cancel"


@dataclass(frozen=True)
class RoundFacts:
    """The state of an open round right after a change, read inside the transaction."""

    mode: str
    min_members: int
    members: int
    stock: int | None
    taken: int
    tipped: bool
    options_exhausted: bool = False  # the deal has options and none has a unit left

    @property
    def sold_out(self) -> bool:
        """No unit of the deal is left."""
        return self.options_exhausted or (self.stock is not None and self.taken >= self.stock)


def check_join(
    *,
    status: DealStatus,
    now: int,
    deadline: int,
    held: int,
    limit: int | None,
    stock: int | None,
    taken: int,
    starts_at: int | None = None,
) -> None:
    """Raise the reason a member may not take one more unit, or return if they may."""
    sold_out = stock is not None and taken >= stock
    if status is not DealStatus.OPEN or now >= deadline:
        raise UserError(ended_answer(status, stock, taken))
    if starts_at is not None and now < starts_at:
        raise not_started(starts_at, now)
    if limit is not None and held >= limit:
        raise UserError("tap_limit", limit=limit)
    if sold_out:
        raise UserError("tap_sold_out")


def not_started(starts_at: int, now: int) -> UserError:
    """The answer to a tap on a timed sale before its start: the time left till it opens."""
    return UserError("tap_not_started", starts_at=starts_at, left=max(0, starts_at - now))


def ended_answer(status: DealStatus, stock: int | None, taken: int) -> str:
    """The answer to a tap on a deal that takes no more (closed, cancelled, past its time)."""
    # A deal that closed because it sold out is, to the member, simply sold out.
    sold_out = stock is not None and taken >= stock
    return "tap_sold_out" if sold_out and status is DealStatus.CLOSED else "tap_closed"


def after_join(facts: RoundFacts) -> Verdict:
    """What the open round must do now that somebody joined it."""
    if facts.mode == "rounds":
        return Verdict.FORM if facts.members >= facts.min_members else Verdict.NONE
    if facts.sold_out:
        return Verdict.SELL_OUT
    if facts.members >= facts.min_members and not facts.tipped:
        return Verdict.TIP
    return Verdict.NONE


def at_close(members: int, min_members: int, choice: CloseChoice | None = None) -> RoundStatus:
    """How an open round ends at its deadline, at sell-out, or by the leader's word.

    The leader's explicit "confirm" confirms the orders even below min: the leader
    knows whether the supplier will deliver. An empty round is simply failed.
    """
    if members == 0 or choice is CloseChoice.CANCEL:
        return RoundStatus.FAILED
    if choice is CloseChoice.CONFIRM or members >= min_members:
        return RoundStatus.FORMED
    return RoundStatus.FAILED


def opens_next_round(
    *,
    mode: str,
    now: int,
    deadline: int,
    stock: int | None,
    taken: int,
    options_exhausted: bool = False,
) -> bool:
    """Whether a fresh round opens after one formed (rounds mode, time and stock left)."""
    stock_left = (stock is None or taken < stock) and not options_exhausted
    return mode == "rounds" and now < deadline and stock_left


def reminder_at(*, created_at: int, deadline: int, before: int) -> int | None:
    """When to remind the group that members are missing, or None for no reminder.

    A deal posted (or, for a timed sale, opening: pass its start as `created_at`) inside
    the reminder window gets none: a warning right after the post would only be noise,
    and before the start nobody could act on it.
    """
    moment = deadline - before
    if before <= 0 or moment <= created_at:
        return None
    return moment
