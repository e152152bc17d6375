"""Inline-button data: short, versioned, plain strings that survive restarts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"


class Action(StrEnum):
    """What a button asks for; deal-card buttons name a deal, mark buttons an order."""

    JOIN = "join"
    LEAVE = "leave"
    INVITE = "invite"
    PAID = "paid"
    COLLECTED = "coll"
    SETTING = "set"  # a quick choice under /settings: the target indexes QUICK_FLAT
    JOIN_OPTION = "jo"  # target: an option id
    WAIT = "wait"  # "Notify me" on a sold-out deal
    WAIT_OPTION = "wo"  # "Notify me" on a sold-out option
    TAKE = "take"  # take the unit a waitlist offer holds: target the waitlist entry
    PICK = "pick"  # choose a pickup point: target the deal, extra the point
    I_PAID = "ipaid"  # the member says they paid an order
    PAY_OK = "pok"  # the leader confirms a payment claim
    PAY_NO = "pno"  # the leader rejects it
    REMIND = "remind"  # remind a group's unpaid members: target the negated chat id
    REFUNDED = "refd"  # a leader paid an owed order back (/refunds): target the order
    FORGET = "forget"  # /forgetme confirmed: target the member's own user id
    MARK_DEAL_PAID = "mdp"  # /paid @name, several deals: target the deal, extra the member
    MARK_DEAL_COLLECTED = "mdc"  # the same for /collected
    UNDO_MARKS = "unmark"  # Undo under a /paid @name reply: its first and last mark entry


class Buttons:
    """One kind of button, defined once: the actions it carries, used both to build a
    button's data (`data`) and, as a `CallbackQueryHandler` pattern, to route its taps to
    the handler of that kind (`matches`)."""

    __slots__ = ("_prefixes", "actions")

    def __init__(self, *actions: Action) -> None:
        self.actions = frozenset(actions)
        self._prefixes = tuple(f"{VERSION}:{action}:" for action in actions)

    def data(self, action: Action, target: int, extra: int | None = None) -> str:
        """The callback data of a button of this kind, e.g. ``v1:join:42``."""
        if action not in self.actions:
            raise ValueError(f"{action!r} is not a button of {self!r}")
        return encode(action, target, extra)

    def matches(self, data: object) -> bool:
        """Whether a tap's data names one of this kind's actions (what the kind's handler
        takes); it need not decode: a broken one reaches the handler, which says so."""
        return isinstance(data, str) and data.startswith(self._prefixes)

    def __repr__(self) -> str:
        return f"Buttons({', '.join(sorted(self.actions))})"


# Every kind of button; each action is of exactly one kind. The deal kind: the deal card's
# buttons, a waitlist offer's (take) and the pickup question's (pick).
DEAL = Buttons(
    Action.JOIN,
    Action.LEAVE,
    Action.INVITE,
    Action.JOIN_OPTION,
    Action.WAIT,
    Action.WAIT_OPTION,
    Action.TAKE,
    Action.PICK,
)
MARKS = Buttons(Action.PAID, Action.COLLECTED)  # a summary's mark panel
SETTINGS = Buttons(Action.SETTING)  # the quick choices under /settings
# Chasing payments, and paying back (/refunds).
PAYMENTS = Buttons(Action.I_PAID, Action.PAY_OK, Action.PAY_NO, Action.REMIND, Action.REFUNDED)
FORGET = Buttons(Action.FORGET)  # the confirmation under /forgetme
# Under a reply to /paid or /collected naming a member: a deal to mark, or Undo.
NAMED_MARKS = Buttons(Action.MARK_DEAL_PAID, Action.MARK_DEAL_COLLECTED, Action.UNDO_MARKS)
KINDS = (DEAL, MARKS, SETTINGS, PAYMENTS, FORGET, NAMED_MARKS)

DEAL_ACTIONS = DEAL.actions

# Buttons of the deal card itself: they count only where the card is (its group, or a
# card the bot showed elsewhere, whose buttons then carry that chat's key as `extra`).
CARD_ACTIONS = frozenset(
    {
        Action.JOIN,
        Action.LEAVE,
        Action.INVITE,
        Action.JOIN_OPTION,
        Action.WAIT,
        Action.WAIT_OPTION,
    }
)

# Buttons whose handler reads the keyboard of the message they sit under.
KEYBOARD_READERS = MARKS.actions

# A mark button carries the state it sets as its extra (a tap delivered twice then sets
# it twice, never back): ids start at 1, so 1 sets the mark and 2 clears it.
MARK_SET, MARK_CLEAR = 1, 2


def mark_target(value: bool) -> int:
    """The extra of a mark button that sets (True) or clears (False) its mark."""
    return MARK_SET if value else MARK_CLEAR


def marks_to(tap: Tap) -> bool | None:
    """The state a mark button sets, or None for a button from before buttons said so."""
    return {MARK_SET: True, MARK_CLEAR: False}.get(tap.extra) if tap.extra else None


@dataclass(frozen=True)
class Tap:
    """A decoded button press: the action, the id it is about, and an optional second id."""

    action: Action
    target: int
    extra: int | None = None


def encode(action: Action, target: int, extra: int | None = None) -> str:
    """Callback data for a button, e.g. ``v1:join:42`` (well under Telegram's 64 bytes)."""
    tail = "" if extra is None else f":{extra}"
    return f"{VERSION}:{action}:{target}{tail}"


def decode(data: str | None) -> Tap | None:
    """The tap a button's data stands for, or None for anything forged, stale or strange."""
    if not data or len(data) > 64:
        return None
    parts = data.split(":")
    if len(parts) not in (3, 4) or parts[0] != VERSION:
        return None
    try:
        action = Action(parts[1])
    except ValueError:
        return None
    numbers = parts[2:]
    if not all(_is_id(number) for number in numbers):
        return None
    extra = int(numbers[1]) if len(numbers) == 2 else None
    return Tap(action=action, target=int(numbers[0]), extra=extra)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 15 and text[0] != "0"
