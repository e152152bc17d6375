"""Money as integer minor units: reading what a leader types and writing it back, never floats."""

from __future__ import annotations

import re

# Leaders type on phones with Chinese keyboards: full-width digits, dot and signs are common.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．￥＄", "0123456789.¥$")

# A decimal point or, as Russian writes it, a decimal comma ("12,50").
_AMOUNT = re.compile(
    r"(?P<prefix>HK\$|NT\$|[¥$€£₽])?\s*(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]+)|,(?P<comma>[0-9]{1,2}))?"
    r"\s*(?P<suffix>[元块塊圓₽]|руб\.?|р\.?)?",
    re.IGNORECASE,
)


def scale(digits: int) -> int:
    """Minor units in one unit: 100 for cents, 1 for a currency without them."""
    if digits < 0:
        raise ValueError(f"digits must not be negative: {digits}")
    return int(10**digits)


def parse_money(text: str, digits: int = 2) -> int:
    """`text` (``12.50``, ``¥12.5``, ``１２元``, ``12,5 ₽``) in minor units; ValueError if it
    is no amount."""
    unit = scale(digits)
    match = _AMOUNT.fullmatch(text.translate(_FULL_WIDTH).strip())
    if match is None:
        raise ValueError(f"not an amount of money: {text!r}")
    units: str = match["units"]
    fraction: str = match["fraction"] or match["comma"] or ""
    if len(fraction) > digits:
        raise ValueError(f"more than {digits} decimal places: {text!r}")
    return int(units) * unit + int(fraction.ljust(digits, "0") or "0")


def format_money(minor: int, digits: int = 2) -> str:
    """Minor units as a plain decimal: 1250 → ``12.50``; ``1250`` for a currency without cents."""
    sign = "-" if minor < 0 else ""
    units, fraction = divmod(abs(minor), scale(digits))
    return f"{sign}{units}.{fraction:0{digits}d}" if digits else f"{sign}{units}"
