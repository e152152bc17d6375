"""Currencies: how many minor digits each has and how its amounts are written."""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is the whole unit (no cents).
_NO_MINOR_UNITS = frozenset({"JPY", "KRW", "VND", "IDR", "CLP", "ISK", "HUF", "TWD"})
_SYMBOLS = {
    "CNY": "¥",
    "JPY": "¥",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "HKD": "HK$",
    "SGD": "S$",
    "TWD": "NT$",
    "AUD": "A$",
    "CAD": "C$",
    "MYR": "RM",
    "KRW": "₩",
    "INR": "₹",
    "RUB": "₽",
}


def digits(currency: str) -> int:
    """Minor digits of the currency: 2 for most, 0 for yen-like ones."""
    return 0 if currency.upper() in _NO_MINOR_UNITS else 2


def symbol(currency: str) -> str | None:
    """The currency's usual sign, or None where we write its code instead."""
    return _SYMBOLS.get(currency.upper())
