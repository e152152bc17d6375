"""The deal form: what a leader types after /deal, read into a checked DealForm or a FormError.

Pure: text, the current time and the group's time zone in; a value or a FormError out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.errors import UserError
from bot.core.formkeys import KEY_LANGUAGES, KEYS
from bot.core.money import parse_money, scale
from bot.core.spread import SHARED, group_names, split_stock


class Mode(StrEnum):
    """How a deal's rounds close: at each `min` (rounds, 拼团) or once at the deadline (接龙)."""

    ROUNDS = "rounds"
    TIPPING = "tipping"


@dataclass(frozen=True)
class OptionForm:
    """One option of a deal (a size, a flavour) with its own price and optional stock."""

    name: str
    price: int  # minor units
    stock: int | None = None


@dataclass(frozen=True)
class DealForm:
    """A deal as the leader asked for it, every field checked."""

    title: str
    price: int  # minor units; with options, the lowest option price
    min_members: int
    deadline: datetime  # timezone-aware, in UTC
    stock: int | None = None
    limit: int | None = None
    mode: Mode = Mode.ROUNDS
    note: str | None = None
    description: str | None = None
    options: tuple[OptionForm, ...] = ()
    pickups: tuple[str, ...] = ()  # names of the group's pickup points; () means all
    start: datetime | None = None  # timezone-aware, in UTC; None: open at once
    groups: tuple[str, ...] = ()  # further groups the leader leads, by name or chat id
    stock_scope: str = SHARED  # across those groups: one stock, or one deal in each


class FormError(UserError):
    """What is wrong with a deal form, rendered by the ``deal_form_error`` template."""

    def __init__(self, field: str, problem: str, value: str | None = None, **extra: Any) -> None:
        super().__init__(
            "deal_form_error",
            field=field,
            problem=problem,
            value=None if value is None else value[:VALUE_SHOWN],
            limits=FORM_LIMITS,
            **extra,
        )
        self.field = field
        self.problem = problem


# The problems each field can have: the contract with templates/deal_form_error.j2.
# "other_currency" comes only from /repost (bot.core.repost) into a group of another currency.
# Any key may also be "unknown_field" (field is then the key as typed), "duplicate" or "no_value".
PROBLEMS: dict[str, tuple[str, ...]] = {
    "form": ("empty", "too_long"),
    "title": ("missing", "too_long"),
    "price": ("missing", "not_money", "not_positive", "too_large", "other_currency"),
    "min": ("missing", "not_integer", "out_of_range"),
    "deadline": ("missing", "bad_deadline", "in_past", "too_far"),
    "start": ("bad_start", "in_past", "too_far", "after_deadline"),
    "stock": ("not_integer", "out_of_range", "below_min"),
    "limit": ("not_integer", "out_of_range"),
    "mode": ("bad_mode",),
    "note": ("too_long",),
    "description": ("too_long",),
    "options": ("bad_option", "too_many", "duplicate_option", "other_currency"),
    "pickup": ("too_many",),
}
KEY_PROBLEMS = ("unknown_field", "duplicate", "no_value")

VALUE_SHOWN = 50  # characters of the user's text quoted back in an error
MAX_FORM = 4096  # Telegram's own message limit; anything longer is not a form
MAX_TITLE = 120
MAX_NOTE = 500
MAX_DESCRIPTION = 1000
MAX_PRICE_UNITS = 1_000_000
MIN_RANGE = (1, 10_000)
STOCK_RANGE = (1, 1_000_000)
LIMIT_RANGE = (1, 1_000)
MAX_DAYS = 90
MAX_OPTIONS = 8  # one Join button each: more would bury the card
MAX_OPTION_NAME = 30
MAX_PICKUPS = 8
# The bounds the error's how-to lines quote, so the wording cannot drift from the rules.
FORM_LIMITS = {
    "title": MAX_TITLE,
    "min_members": MIN_RANGE,
    "limit": LIMIT_RANGE,
    "days": MAX_DAYS,
    "note": MAX_NOTE,
    "description": MAX_DESCRIPTION,
    "options": MAX_OPTIONS,
    "pickups": MAX_PICKUPS,
}

_ALIASES = {alias: key for key, aliases in KEYS.items() for alias in (key, *aliases)}

_MODES = {
    "rounds": Mode.ROUNDS,
    "round": Mode.ROUNDS,
    "拼团": Mode.ROUNDS,
    "拼團": Mode.ROUNDS,
    "раунды": Mode.ROUNDS,
    "раунд": Mode.ROUNDS,
    "tipping": Mode.TIPPING,
    "tipping point": Mode.TIPPING,
    "tipping-point": Mode.TIPPING,
    "tipping_point": Mode.TIPPING,
    "接龙": Mode.TIPPING,
    "接龍": Mode.TIPPING,
    "порог": Mode.TIPPING,
    "до порога": Mode.TIPPING,
}

# A word that may name a field: a letter first, at most 15 characters (longer is prose).
_KEY_WORD = r"[^\W\d_][\w-]{0,14}"
_KNOWN = "|".join(re.escape(alias) for alias in sorted(_ALIASES, key=len, reverse=True))
# Where a pair starts inside a line: any `word=`, but `word:` only for a known key, so that
# "Origin farm: India" or "Pickup 10:00" stay plain text.
_PAIR = re.compile(
    rf"(?<!\S)(?:(?P<known>{_KNOWN})\s*[:：=＝]|(?P<word>{_KEY_WORD})[=＝])", re.IGNORECASE
)
_SEPARATOR = re.compile(r"[:：=＝]")
_KEY_SHAPE = re.compile(_KEY_WORD)

# Everything below 0x20 and 0x7f-0x9f goes, except that line and tab breaks become their
# plain forms; lone surrogates (possible in decoded JSON) would break sending the reply later.
_LINE_BREAKS = re.compile(r"\r\n|[\r\x85\u2028\u2029]")
_SPACES = re.compile(r"[\t\v\f]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

_FULL_WIDTH = str.maketrans("０１２３４５６７８９：／－．\u3000", "0123456789:/-. ")


def parse_deal_form(
    body: str, *, now: datetime, tz: ZoneInfo, money_digits: int = 2, day_first: bool = False
) -> DealForm:
    """The deal in `body` (the text after /deal), or FormError naming the first problem.
    With `day_first` (a Russian form) a dotted date is day.month: 05.12 is 5 December."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if money_digits < 0:
        raise ValueError(f"money_digits must not be negative: {money_digits}")
    try:
        return _parse(body, now.astimezone(UTC), tz, money_digits, day_first)
    except FormError as error:
        # The error template shows a complete example; its price must suit the currency.
        error.context.setdefault("digits", money_digits)
        raise


def _parse(body: str, now: datetime, tz: ZoneInfo, digits: int, day_first: bool) -> DealForm:
    if len(body) > MAX_FORM:
        raise FormError("form", "too_long", max=MAX_FORM)
    lines = [line.strip() for line in _clean(body).split("\n")]
    lines = [line for line in lines if _visible(line)]
    if not lines:
        raise FormError("form", "empty")

    title, pairs = _split_pairs(lines[0])
    values: dict[str, str] = {}
    description: list[str] = []
    for text, line_pairs in [("", pairs), *map(_read_line, lines[1:])]:
        if text:
            description.append(text)
        for typed_key, value in line_pairs:
            key = take_pair(values, typed_key, value)
            if key == "description":
                description.append(value)

    if not title:
        raise FormError("title", "missing")
    if day_first:
        read_day_first(values)
    return _form(title, values, "\n".join(description) or None, now, tz, digits)


# A dotted date at the start of a time, day first: 05.12 20:00, 05.12.2026 20:00.
_DOTTED_DAY = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})(?:\.([0-9]{4}))?(?=[ tT])")


def read_day_first(values: dict[str, str]) -> None:
    """Rewrite the start's and deadline's dotted dates (day.month, as Russian writes them)
    the ISO way, month first, which is how the times are then read."""
    for key in ("start", "deadline"):
        if key in values:
            values[key] = _DOTTED_DAY.sub(
                lambda m: f"{m[3] + '-' if m[3] else ''}{m[2]}-{m[1]}", values[key].strip()
            )


def _form(
    title: str,
    values: dict[str, str],
    description: str | None,
    now: datetime,
    tz: ZoneInfo,
    digits: int,
    base: DealForm | None = None,
    period: timedelta | None = None,
) -> DealForm:
    """The deal the typed `values` make, each checked; a field not typed comes from `base`
    (a deal posted again), whose deadline is then `period` after the start (or now)."""
    if "options" in values:
        options = _options(values["options"], digits)
    else:
        options = base.options if base else ()
    if base is None:
        for key in ("price", "min", "deadline"):
            if key not in values and not (key == "price" and options):
                raise FormError(key, "missing")
    if len(title) > MAX_TITLE:
        raise FormError("title", "too_long", title, max=MAX_TITLE)
    if "price" in values:
        price = _price(values["price"], digits)
    elif options:
        price = min(option.price for option in options)
    else:
        assert base is not None
        price = base.price
    if "min" in values:
        min_members = _count("min", values["min"], MIN_RANGE, suffixes="人位")
    else:
        assert base is not None
        min_members = base.min_members
    start = _when("start", values["start"], now, tz, now) if "start" in values else None
    if "deadline" in values:
        deadline = _when("deadline", values["deadline"], now, tz, start or now)
    else:
        assert base is not None and period is not None
        deadline = (start or now).replace(microsecond=0) + period
        if deadline - now > timedelta(days=MAX_DAYS):
            hours, seconds = divmod(int(period.total_seconds()), 3600)
            typed = f"{hours // 24}d{hours % 24}h{seconds // 60}m"
            raise FormError("deadline", "too_far", typed, max_days=MAX_DAYS)
    if start is not None and start >= deadline:
        raise FormError("start", "after_deadline", values["start"])
    stock_text, stock_scope = split_stock(values.get("stock"))
    stock = _optional_count("stock", stock_text, STOCK_RANGE)
    if "stock" not in values and base is not None:
        stock, stock_scope = base.stock, base.stock_scope
    if stock is not None and stock < min_members:
        raise FormError("stock", "below_min", values.get("stock", str(stock)), min=min_members)
    limit = _optional_count("limit", values.get("limit"), LIMIT_RANGE)
    if "limit" not in values and base is not None:
        limit = base.limit
    mode = _mode(values.get("mode")) if "mode" in values or base is None else base.mode
    note = values["note"] if "note" in values else (base.note if base else None)
    if note is not None and len(note) > MAX_NOTE:
        raise FormError("note", "too_long", note, max=MAX_NOTE)
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise FormError("description", "too_long", description, max=MAX_DESCRIPTION)
    if "pickup" in values or base is None:
        pickups = _pickups(values.get("pickup"))
    else:
        pickups = base.pickups
    return DealForm(
        title=title,
        price=price,
        min_members=min_members,
        deadline=deadline,
        stock=stock,
        limit=limit,
        mode=mode,
        note=note,
        description=description,
        options=options,
        pickups=pickups,
        start=start,
        groups=group_names(values["groups"]) if "groups" in values else (),
        stock_scope=stock_scope,
    )


_LIST_SEPARATOR = re.compile(r"[;；]")
_OPTION = re.compile(
    r"(?P<name>.+?)\s+(?P<price>[¥￥$€£₽]?\s*[0-9]+(?:[.,][0-9]+)?\s*(?:元|块|塊|₽|руб\.?)?)"
    r"(?:\s*[x×*хХ]\s*(?P<stock>[0-9]+)\s*(?:[份件个個]|шт\.?)?)?"
)


def parse_options(value: str, digits: int = 2) -> tuple[OptionForm, ...]:
    """Options typed on their own (/options): FormError if they do not read."""
    try:
        return _options(value, digits)
    except FormError as error:
        error.context.setdefault("digits", digits)
        raise


def _options(value: str, digits: int) -> tuple[OptionForm, ...]:
    """`5kg box 12.50 x30; 10kg box 22.00 x10`: name, price and optional stock each."""
    parts = [part.strip() for part in _LIST_SEPARATOR.split(value) if part.strip()]
    if len(parts) > MAX_OPTIONS:
        raise FormError("options", "too_many", value, max=MAX_OPTIONS)
    options: list[OptionForm] = []
    for part in parts:
        match = _OPTION.fullmatch(part.translate(_FULL_WIDTH))
        if match is None or len(match["name"].strip()) > MAX_OPTION_NAME:
            raise FormError("options", "bad_option", part)
        name = match["name"].strip()
        if any(option.name.casefold() == name.casefold() for option in options):
            raise FormError("options", "duplicate_option", name)
        try:
            price = _price(match["price"], digits)
        except FormError:
            raise FormError("options", "bad_option", part) from None
        stock = None
        if match["stock"] is not None:
            stock = int(match["stock"])
            if not STOCK_RANGE[0] <= stock <= STOCK_RANGE[1]:
                raise FormError("options", "bad_option", part)
        options.append(OptionForm(name, price, stock))
    if not options:
        raise FormError("options", "bad_option", value)
    return tuple(options)


def _pickups(value: str | None) -> tuple[str, ...]:
    """Pickup point names the deal uses, separated by `;` or `,`."""
    if value is None:
        return ()
    names = tuple(
        dict.fromkeys(name.strip() for name in re.split(r"[;；,，]", value) if name.strip())
    )
    if len(names) > MAX_PICKUPS:
        raise FormError("pickup", "too_many", value, max=MAX_PICKUPS)
    return names


def _clean(body: str) -> str:
    """The body without control characters, with one kind of line break."""
    body = _LINE_BREAKS.sub("\n", body)
    return _CONTROL.sub("", _SPACES.sub(" ", body))


def _visible(text: str) -> bool:
    """Whether `text` shows anything: a line of zero-width spaces is no title."""
    return any(char.isprintable() and not char.isspace() for char in text)


def written_in(body: str, fallback: str) -> str:
    """The language a form's keys are written in (its answer's language), or `fallback`
    (the group's) when they are English, mixed, or fit it as well as another."""
    languages: set[str] | None = None
    for match in _PAIR.finditer(_clean(body)):
        typed = unicodedata.normalize("NFKC", match["known"] or match["word"]).casefold()
        if (written := KEY_LANGUAGES.get(typed)) is not None:
            languages = set(written) if languages is None else languages & written
    if not languages or fallback in languages:
        return fallback
    if len(languages) == 1:
        return languages.pop()
    return "zh-Hans"  # keys both Chinese scripts share (截止), in a group of neither


def take_pair(values: dict[str, str], typed_key: str, value: str) -> str:
    """Add one `key: value` of a form to `values` under its field's name (any language's
    key, full-width or not); the field. A FormError names an unknown, repeated or empty
    field."""
    key = _ALIASES.get(unicodedata.normalize("NFKC", typed_key).casefold())
    if key is None:
        raise FormError(typed_key, "unknown_field", value)
    if key in values:
        raise FormError(key, "duplicate", value)
    if not value:
        raise FormError(key, "no_value", value)
    values[key] = value
    return key


def _split_pairs(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first `key=value` in `text`, and the pairs that follow it."""
    starts = list(_PAIR.finditer(text))
    if not starts:
        return text.strip(), []
    ends = [match.start() for match in starts[1:]] + [len(text)]
    pairs = [
        (match["known"] or match["word"], text[match.end() : end].strip())
        for match, end in zip(starts, ends, strict=True)
    ]
    return text[: starts[0].start()].strip(), pairs


def _read_line(line: str) -> tuple[str, list[tuple[str, str]]]:
    """A line after the title: its description text and its pairs."""
    separator = _SEPARATOR.search(line)
    if separator is not None:
        head = line[: separator.start()].strip()
        is_link = line.startswith("//", separator.end())
        # "Word: text" is meant as a field, known or not; a misspelt key must not
        # silently turn into description.
        if _KEY_SHAPE.fullmatch(head) and not is_link:
            first_value, pairs = _split_pairs(line[separator.end() :])
            return "", [(head, first_value), *pairs]
    return _split_pairs(line)


def _price(value: str, digits: int) -> int:
    try:
        price = parse_money(value, digits)
    except ValueError:
        if value.lstrip().startswith(("-", "−", "－")):
            try:
                parse_money(value.lstrip()[1:], digits)
            except ValueError:
                pass
            else:
                raise FormError("price", "not_positive", value) from None
        raise FormError("price", "not_money", value) from None
    if price <= 0:
        raise FormError("price", "not_positive", value)
    if price > MAX_PRICE_UNITS * scale(digits):
        raise FormError("price", "too_large", value, max=MAX_PRICE_UNITS)
    return price


def _count(key: str, value: str, bounds: tuple[int, int], suffixes: str = "份件个") -> int:
    """A whole number within `bounds`; a unit word a Chinese leader adds (10人, 5份) is fine."""
    low, high = bounds
    match = re.fullmatch(rf"([-−]?)\s*([0-9]+)\s*[{suffixes}]?", value.translate(_FULL_WIDTH))
    if match is None:
        raise FormError(key, "not_integer", value)
    number = -int(match[2]) if match[1] else int(match[2])
    if not low <= number <= high:
        raise FormError(key, "out_of_range", value, min=low, max=high)
    return number


def _optional_count(key: str, value: str | None, bounds: tuple[int, int]) -> int | None:
    return None if value is None else _count(key, value, bounds)


def _mode(value: str | None) -> Mode:
    if value is None:
        return Mode.ROUNDS
    mode = _MODES.get(" ".join(value.casefold().split()))
    if mode is None:
        raise FormError("mode", "bad_mode", value)
    return mode


_DATE_TIME = re.compile(
    r"(?:(?P<year>[0-9]{4})[-/.])?(?P<month>[0-9]{1,2})[-/.](?P<day>[0-9]{1,2})"
    r"(?: |t)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
)
_CHINESE_DATE_TIME = re.compile(
    r"(?:(?P<year>[0-9]{4}) ?年 ?)?(?P<month>[0-9]{1,2}) ?月 ?(?P<day>[0-9]{1,2}) ?[日号]"
    r" ?(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
)
# Russian writes the day first, with dots: 25.11 20:00, 25.11.2026 20:00.
_DOTTED_DATE_TIME = re.compile(
    r"(?P<day>[0-9]{1,2})\.(?P<month>[0-9]{1,2})(?:\.(?P<year>[0-9]{4}))?"
    r"(?: |t)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})"
)
_TIME = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})")
_DURATION = re.compile(
    r"(?:(?P<days>[0-9]+) ?(?:days?|d|天|дней|дня|день|дн|д) ?)?"
    r"(?:(?P<hours>[0-9]+) ?(?:hours?|hrs?|h|个小时|小时|個小時|小時|时|時|часов|часа|час|ч) ?)?"
    r"(?:(?P<minutes>[0-9]+) ?(?:minutes?|mins?|m|分钟|分鐘|分|минуты|минут|мин|м))?"
)


def _when(key: str, value: str, now: datetime, tz: ZoneInfo, after: datetime) -> datetime:
    """The moment `value` means, read in the group's time zone, as UTC: a duration counts
    from `after` (now, or the start for a deadline), a wall-clock time is the next one
    after it."""
    text = " ".join(value.translate(_FULL_WIDTH).casefold().split())
    if (match := _DURATION.fullmatch(text)) and any(match.groups()):
        minutes = (
            int(match["days"] or 0) * 1440
            + int(match["hours"] or 0) * 60
            + int(match["minutes"] or 0)
        )
        # Compared before any date arithmetic, which would overflow on "999999999d".
        if minutes > MAX_DAYS * 1440:
            raise FormError(key, "too_far", value, max_days=MAX_DAYS)
        moment = (after + timedelta(minutes=minutes)).replace(microsecond=0)
    else:
        moment = _moment(key, text, value, after, tz)
    if moment <= now:
        raise FormError(key, "in_past", value)
    if moment - now > timedelta(days=MAX_DAYS):
        raise FormError(key, "too_far", value, max_days=MAX_DAYS)
    return moment


def _moment(key: str, text: str, value: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock date and time (or a time alone) in `tz`: the next one that fits, in UTC."""
    local_today = now.astimezone(tz).date()
    match = _DATE_TIME.fullmatch(text) or _CHINESE_DATE_TIME.fullmatch(text)
    if (dotted := _DOTTED_DATE_TIME.fullmatch(text)) and (
        match is None or _month_first_fails(match)
    ):
        match = dotted
    if match is not None:
        at = _clock_time(key, match, value)
        if match["year"]:
            days = [_day(key, int(match["year"]), match, value)]
        else:
            # "11-25 20:00" is this year's, or next year's once this year's has passed.
            days = [_day(key, local_today.year + n, match, None) for n in (0, 1)]
    elif (match := _TIME.fullmatch(text)) is not None:
        at = _clock_time(key, match, value)
        days = [local_today, local_today + timedelta(days=1)]
    else:
        raise FormError(key, f"bad_{key}", value)
    moments = [_to_utc(day, at, tz, now) for day in days if day is not None]
    if not moments:
        raise FormError(key, f"bad_{key}", value)
    return next((moment for moment in moments if moment > now), moments[-1])


def _month_first_fails(match: re.Match[str]) -> bool:
    """Whether a date read month first cannot be one (25.11: the 25th month)."""
    return not 1 <= int(match["month"]) <= 12 or not 1 <= int(match["day"]) <= 31


def _clock_time(key: str, match: re.Match[str], value: str) -> time:
    try:
        return time(int(match["hour"]), int(match["minute"]))
    except ValueError:
        raise FormError(key, f"bad_{key}", value) from None


def _day(key: str, year: int, match: re.Match[str], value: str | None) -> date | None:
    """The date, or None when there is none (Feb 29 in a common year); FormError if `value`."""
    try:
        return date(year, int(match["month"]), int(match["day"]))
    except ValueError:
        if value is None:
            return None
        raise FormError(key, f"bad_{key}", value) from None


def _to_utc(day: date, at: time, tz: ZoneInfo, now: datetime) -> datetime:
    # fold=0: a time skipped by a DST change reads with the offset before it (02:30 → 03:30),
    # and a repeated time means its first occurrence.
    local = datetime.combine(day, at, tzinfo=tz)
    try:
        return local.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999: as good as "past" or "too far", which the caller then reports.
        return (
            datetime.min.replace(tzinfo=UTC)
            if day < now.date()
            else datetime.max.replace(tzinfo=UTC)
        )
