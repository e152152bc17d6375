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


DEAL_ACTIONS = frozenset({Action.JOIN, Action.LEAVE, Action.INVITE})


@dataclass(frozen=True)
class Tap:
    """A decoded button press: the action and the id of the deal or order it is about."""

    action: Action
    target: int


def encode(action: Action, target: int) -> str:
    """Callback data for a button, e.g. ``v1:join:42`` (well under Telegram's 64 bytes)."""
    return f"{VERSION}:{action}:{target}"


def decode(data: str | None) -> Tap | None:
    """The tap a button's data stands for, or None for anything forged, stale or strange."""
    if not data or len(data) > 64:
        return None
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != VERSION:
        return None
    try:
        action = Action(parts[1])
    except ValueError:
        return None
    target = parts[2]
    if not target.isascii() or not target.isdigit() or len(target) > 12 or target[0] == "0":
        return None
    return Tap(action=action, target=int(target))
