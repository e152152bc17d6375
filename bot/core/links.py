"""Deep-link payloads for /start: a deal card, a member's signed invite to a deal, or a
leader's invitation to help sell one.

Every payload that opens a card or hands out an invite is signed with the bot token:
deal numbers are sequential, so a bare number must open nothing outside its group.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    """What a /start payload asks for."""

    # "deal" (show the card), "invite" (give me my link), "ref" (a friend's link),
    # "helper" (a leader's invitation to sell the deal in another group), or "unsigned":
    # an old bare `d<deal>` / `i<deal>` link, refused with "ask for a new one".
    kind: str
    deal_id: int
    referrer_id: int | None = None
    commission: int | None = None  # a helper's, in basis points


class Links:
    """Makes and reads /start payloads, all signed so that nobody can forge one."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"groupbuy-invite:" + secret).digest()

    def _mac(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode(), hashlib.sha256).digest()

    def _sign(self, deal_id: int, user_id: int) -> str:
        return base64.urlsafe_b64encode(self._mac(f"{deal_id}:{user_id}")[:9]).decode()

    def _sign_deal(self, kind: str, deal_id: int) -> str:
        # "d:12" can never be a referral's "12:2001": the two signatures never stand in.
        return base64.urlsafe_b64encode(self._mac(f"{kind}:{deal_id}")[:9]).decode()

    def deal(self, deal_id: int) -> str:
        """Signed payload that opens the deal's card privately: ``d<deal>_<signature>``."""
        return f"d{deal_id}_{self._sign_deal('d', deal_id)}"

    def invite_request(self, deal_id: int) -> str:
        """Signed payload that asks the bot for my personal invite link to the deal."""
        return f"i{deal_id}_{self._sign_deal('i', deal_id)}"

    def card_key(self, chat_id: int, deal_id: int) -> int:
        """The number a card the bot shows privately carries in its buttons: a tap there
        counts only with the key of that chat and deal (48 bits, under 15 digits)."""
        mac = self._mac(f"c:{chat_id}:{deal_id}")
        return int.from_bytes(mac[:6], "big") or 1

    def referral(self, deal_id: int, user_id: int) -> str:
        """A member's personal invite payload: ``r<deal>_<user>_<signature>``, under 64 chars."""
        return f"r{deal_id}_{user_id}_{self._sign(deal_id, user_id)}"

    def helper(self, deal_id: int, commission: int) -> str:
        """Signed payload inviting a helper leader to sell the deal for a commission (basis
        points): ``h<deal>_<points>_<signature>``."""
        return f"h{deal_id}_{commission}_{self._sign_deal('h', deal_id * 100_000 + commission)}"

    def invoice(self, order_id: int) -> str:
        """Signed invoice payload naming an order: ``o<order>_<signature>`` (≤ 128 bytes)."""
        return f"o{order_id}_{self._sign_deal('o', order_id)}"

    def invoice_order(self, payload: str | None) -> int | None:
        """The order an invoice payload names, or None if it is not one we signed."""
        if not payload or len(payload) > 128 or not payload.isascii() or payload[0] != "o":
            return None
        order, _, signature = payload[1:].partition("_")
        if _is_id(order) and hmac.compare_digest(signature, self._sign_deal("o", int(order))):
            return int(order)
        return None

    def parse(self, payload: str | None) -> Payload | None:
        """Read a payload; None for anything unknown, malformed or forged."""
        if not payload or len(payload) > 64 or not payload.isascii():
            return None
        kind, rest = payload[0], payload[1:]
        if kind in "di" and _is_id(rest):
            return Payload(kind="unsigned", deal_id=int(rest))
        if kind in "di":
            deal, _, signature = rest.partition("_")
            if _is_id(deal) and hmac.compare_digest(signature, self._sign_deal(kind, int(deal))):
                return Payload(kind="deal" if kind == "d" else "invite", deal_id=int(deal))
            return None
        if kind == "h":
            parts = rest.split("_", 2)
            if len(parts) == 3 and _is_id(parts[0]) and _is_id(parts[1]) and len(parts[1]) <= 5:
                deal_id, points = int(parts[0]), int(parts[1])
                signed = self._sign_deal("h", deal_id * 100_000 + points)
                if hmac.compare_digest(parts[2], signed):
                    return Payload(kind="helper", deal_id=deal_id, commission=points)
            return None
        if kind == "r":
            parts = rest.split("_", 2)
            if len(parts) == 3 and _is_id(parts[0]) and _is_id(parts[1]):
                deal_id, user_id = int(parts[0]), int(parts[1])
                if hmac.compare_digest(parts[2], self._sign(deal_id, user_id)):
                    return Payload(kind="ref", deal_id=deal_id, referrer_id=user_id)
        return None


def _is_id(text: str) -> bool:
    return text.isdigit() and 0 < len(text) <= 15 and not text.startswith("0")
