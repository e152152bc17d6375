"""Deep-link payloads for /start: a deal card, or a member's signed invite to a deal."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    """What a /start payload asks for."""

    kind: str  # "deal" (show the card), "invite" (give me my link), "ref" (a friend's link)
    deal_id: int
    referrer_id: int | None = None


class Links:
    """Makes and reads /start payloads; invites are signed so nobody can forge another's."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"groupbuy-invite:" + secret).digest()

    def _sign(self, deal_id: int, user_id: int) -> str:
        mac = hmac.new(self._key, f"{deal_id}:{user_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:9]).decode()

    @staticmethod
    def deal(deal_id: int) -> str:
        """Payload that opens the deal's card privately."""
        return f"d{deal_id}"

    @staticmethod
    def invite_request(deal_id: int) -> str:
        """Payload that asks the bot for my personal invite link to the deal."""
        return f"i{deal_id}"

    def referral(self, deal_id: int, user_id: int) -> str:
        """A member's personal invite payload: ``r<deal>_<user>_<signature>``, under 64 chars."""
        return f"r{deal_id}_{user_id}_{self._sign(deal_id, user_id)}"

    def parse(self, payload: str | None) -> Payload | None:
        """Read a payload; None for anything unknown, malformed or forged."""
        if not payload or len(payload) > 64 or not payload.isascii():
            return None
        kind, rest = payload[0], payload[1:]
        if kind in "di" and _is_id(rest):
            return Payload(kind="deal" if kind == "d" else "invite", deal_id=int(rest))
        if kind == "r":
            parts = rest.split("_", 2)
            if len(parts) == 3 and _is_id(parts[0]) and _is_id(parts[1]):
                deal_id, user_id = int(parts[0]), int(parts[1])
                if hmac.compare_digest(parts[2], self._sign(deal_id, user_id)):
                    return Payload(kind="ref", deal_id=deal_id, referrer_id=user_id)
        return None


def _is_id(text: str) -> bool:
    return text.isdigit() and 0 < len(text) <= 15 and not text.startswith("0")
