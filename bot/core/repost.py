"""A past deal posted again (/repost): its values, with what the leader typed replacing
them, read into a checked DealForm the way the deal form is.

Pure: text, the past deal's form, the current time and the group's time zone in; a value
or a FormError out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.forms import (
    _FULL_WIDTH,
    MAX_FORM,
    DealForm,
    FormError,
    _clean,
    _form,
    _read_line,
    _split_pairs,
    _visible,
    read_day_first,
    take_pair,
)


def parse_repost(
    text: str,
    base: DealForm,
    *,
    period: timedelta,
    now: datetime,
    tz: ZoneInfo,
    money_digits: int = 2,
    repriced: bool = False,
    day_first: bool = False,
) -> DealForm:
    """A past deal (`base`) posted again, with what the leader typed after its number:
    `[deadline] [stock]`, then any `key=value` of the deal form, which replace the old
    values. Without a deadline the copy runs `period` from its start (or now). With
    `repriced` (the copy's group counts another currency) the prices must be typed again.
    FormError names the field, as for /deal."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    try:
        if len(text) > MAX_FORM:
            raise FormError("form", "too_long", max=MAX_FORM)
        lines = [line.strip() for line in _clean(text).split("\n")]
        lines = [line for line in lines if _visible(line)]
        head, pairs = _split_pairs(lines[0]) if lines else ("", [])
        for line in lines[1:]:
            more, line_pairs = _read_line(line)
            head = f"{head} {more}".strip()
            pairs += line_pairs
        values = _positional(head.split())
        for typed_key, value in pairs:
            take_pair(values, typed_key, value)
        if repriced and "options" not in values and (base.options or "price" not in values):
            raise FormError("options" if base.options else "price", "other_currency")
        description = values.get("description", base.description)
        if day_first:
            read_day_first(values)
        return _form(base.title, values, description, now, tz, money_digits, base, period)
    except FormError as error:
        error.context.setdefault("digits", money_digits)
        raise


def _positional(words: list[str]) -> dict[str, str]:
    """`[deadline] [stock]` as typed after the deal's number: a last word that is a whole
    number is the stock when something comes before it; the rest is the deadline."""
    if not words:
        return {}
    values = {}
    if len(words) > 1 and re.fullmatch(r"[0-9]+\s*[份件个]?", words[-1].translate(_FULL_WIDTH)):
        values["stock"] = words.pop()
    values["deadline"] = " ".join(words)
    return values
