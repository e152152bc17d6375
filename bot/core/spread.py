"""One deal in several groups: how a form names the groups and how their stock is shared,
and what a helper leader's commission may be."""

from __future__ import annotations

import re

SHARED = "shared"  # one stock and one set of rounds across the groups
PER_GROUP = "per-group"  # a deal of its own in each group

_SCOPES = {
    "shared": SHARED,
    "共享": SHARED,
    "共用": SHARED,
    "общий": SHARED,
    "общая": SHARED,
    "per-group": PER_GROUP,
    "per group": PER_GROUP,
    "pergroup": PER_GROUP,
    "分群": PER_GROUP,
    "每群": PER_GROUP,
    "各群": PER_GROUP,
    "по группам": PER_GROUP,
    "раздельно": PER_GROUP,
}
_SCOPE_AT_END = re.compile(
    "(?:^|\\s)("
    + "|".join(re.escape(word) for word in sorted(_SCOPES, key=len, reverse=True))
    + ")$",
    re.IGNORECASE,
)
_NAMES = re.compile(r"[,，、;；]")
MAX_GROUPS = 10  # further groups one form may post a deal to
MAX_COMMISSION = 5_000  # basis points: a helper earns at most half of an order's value


def split_stock(value: str | None) -> tuple[str | None, str]:
    """`stock: 100 shared` → ("100", "shared"); `stock: per-group` → (None, "per-group");
    `stock: 100` → ("100", "shared"). The count is checked by the form."""
    if value is None:
        return None, SHARED
    text = " ".join(value.split())
    match = _SCOPE_AT_END.search(text)
    if match is None:
        return text, SHARED
    count = text[: match.start()].strip()
    return count or None, _SCOPES[match[1].casefold()]


def group_names(value: str) -> tuple[str, ...]:
    """`groups: Maple Court, Oak Street` → the names (or chat ids) as typed, each once."""
    names: list[str] = []
    for part in _NAMES.split(value):
        name = " ".join(part.split())
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return tuple(names)


def parse_percent(text: str) -> int | None:
    """A commission as typed (`10`, `10%`, `7.5%`) in basis points, or None if it is not
    one between 0.01% and MAX_COMMISSION."""
    word = text.strip().replace("％", "%").removesuffix("%").replace(",", ".")
    match = re.fullmatch(r"([0-9]{1,3})(?:\.([0-9]{1,2}))?", word)
    if match is None:
        return None
    points = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    return points if 0 < points <= MAX_COMMISSION else None
