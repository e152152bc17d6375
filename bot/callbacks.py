"""Inline-button data: short, versioned, plain strings that survive restarts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"


class Action(StrEnum):
    """What a deal-card button asks for."""

    JOIN = "join"
    LEAVE = "leave"
    INVITE = "invite"


@dataclass(frozen=True)
class Tap:
    """A decoded button press."""

    action: Action
    deal_id: int


def encode(action: Action, deal_id: int) -> str:
    """Callback data for a button, e.g. ``v1:join:42`` (well under Telegram's 64 bytes)."""
    return f"{VERSION}:{action}:{deal_id}"


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
    deal = parts[2]
    if not deal.isascii() or not deal.isdigit() or len(deal) > 12 or deal.startswith("0"):
        return None
    return Tap(action=action, deal_id=int(deal))
