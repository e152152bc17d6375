"""Every user-facing text: one jinja2 layout per message under templates/, its words from
the Babel catalogs under locales/ (``{% trans %}``, ``{% pluralize %}``, ``_()``).

The catalogs are read at start (``.po`` compiled in memory), so an installed checkout needs
no build step. Money, numbers and times are written the reader's locale's way by Babel.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import NullTranslations, Translations

from bot.core import currency as currencies
from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES, LOCALES, language_for
from bot.core.models import Member

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CATALOGS = ROOT / "locales"
DOMAIN = "messages"
PLAIN_PREFIXES = ("tap_", "button_")

# Telegram's limits, counted in UTF-16 code units as Telegram counts them.
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def N_(message: str) -> str:
    """Mark a string for the catalogs where it is translated later (extracted by Babel)."""
    return message


# How times are written, as CLDR patterns each catalog may change (Russian: dd.MM.yyyy).
TIME_STYLES = {
    "datetime": N_("yyyy-MM-dd HH:mm"),
    "date": N_("yyyy-MM-dd"),
    "time": N_("HH:mm"),
    "day_time": N_("MM-dd HH:mm"),
}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def money(minor: int, currency: str, locale: str | Locale = "en") -> str:
    """Minor units as the reader's locale writes money: "¥1,234.50", "1 234,50 ₽".

    The sign is the group's currency's usual one (¥ for CNY in any language, as leaders
    write it); the locale decides separators, and where the sign and the minus go. A
    currency without a well-known sign is written with its code: "12.50 XYZ".
    """
    places = currencies.digits(currency)
    amount = Decimal(minor).scaleb(-places)
    locale = Locale.parse(locale)
    number = "#,##0" + ("." + "0" * places if places else "")
    mark = currencies.symbol(currency)
    if not mark:
        return f"{format_decimal(amount, number, locale=locale)} {currency.upper()}"
    pattern = locale.currency_formats["standard"].pattern.split(";")[0]
    pattern = re.sub(r"#[#,]*0(\.0+)?", number, pattern).replace("¤", f"'{mark}'")
    return format_currency(amount, currency, format=pattern, locale=locale, currency_digits=False)


def local_time(
    timestamp: int,
    tz: str,
    style: str = "datetime",
    locale: str | Locale = "en",
    translations: NullTranslations | None = None,
) -> str:
    """A stored UTC time shown in the group's time zone, in a style of TIME_STYLES."""
    moment = datetime.fromtimestamp(timestamp, UTC).astimezone(ZoneInfo(tz))
    pattern = TIME_STYLES[style]
    if translations is not None:
        pattern = translations.gettext(pattern)
    return format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=Locale.parse(locale))


@cache
def translations(lang: str, root: Path = CATALOGS) -> NullTranslations:
    """The language's catalog, compiled in memory; English is the source and needs none."""
    path = root / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=LOCALES[lang], domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they show English
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def progress(count: int, goal: int, cells: int = 10) -> str:
    """``▰▰▰▰▰▰▱▱▱▱ 6/10``: the round's way to its minimum."""
    filled = cells if goal <= 0 else min(cells, count * cells // goal)
    return "▰" * filled + "▱" * (cells - filled) + f" {count}/{goal}"


def split_duration(seconds: int) -> dict[str, int]:
    """Seconds as days, hours and minutes, for the templates' "time left" wording."""
    seconds = max(0, seconds)
    days, rest = divmod(seconds, 86400)
    return {"days": days, "hours": rest // 3600, "minutes": rest % 3600 // 60}


class Texts:
    """Renders messages by name in a language: one layout, the language's catalog."""

    def __init__(self, root: Path = TEMPLATES, catalogs: Path = CATALOGS) -> None:
        self.root = root
        self.catalogs = catalogs
        # One environment per language and escaping: gettext is installed per environment.
        self._envs = {
            (lang, plain): self._environment(lang, plain)
            for lang in LANGUAGES
            for plain in (False, True)
        }
        self.env = self._envs[(DEFAULT_LANGUAGE, False)]
        self._fixed: dict[tuple[str, str], str] = {}

    def _environment(self, lang: str, plain: bool) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.root),
            # Every message goes out as HTML, user text escaped; button answers (tap_*)
            # and labels (button_*) are plain text: Telegram shows them without parse mode.
            autoescape=not plain,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            # Templates ship with the code: no file-time check on every render.
            auto_reload=False,
        )
        catalog = translations(lang, self.catalogs)
        env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
        locale = Locale.parse(LOCALES[lang])
        env.filters["money"] = lambda minor, currency: money(minor, currency, locale)
        env.filters["local_time"] = lambda timestamp, tz, style="datetime": local_time(
            timestamp, tz, style, locale, catalog
        )
        env.filters["number"] = lambda value: format_decimal(value, locale=locale)
        # Basis points as the reader writes a percentage: 1000 → 10%, 750 → 7.5%.
        env.filters["percent"] = lambda points: format_percent(
            points / 10_000, "#,##0.##%", locale=locale
        )
        env.filters["progress"] = progress
        env.filters["duration"] = split_duration
        env.filters["name"] = self._name_filter
        return env

    def _template(self, name: str, lang: str) -> jinja2.Template:
        lang = lang if lang in LANGUAGES else language_for(lang)
        env = self._envs[(lang, name.startswith(PLAIN_PREFIXES))]
        return env.get_template(f"{name}.j2")

    def render(self, template: str, lang: str = DEFAULT_LANGUAGE, /, **context: Any) -> str:
        """The message `template` in `lang`, as Telegram HTML, trimmed."""
        if not context and (fixed := self._fixed.get((template, lang))) is not None:
            return fixed  # "Sold out." to the 500th member of a flash sale: render it once
        text = _squeeze(self._template(template, lang).render(lang=lang, **context))
        if not context:
            self._fixed[(template, lang)] = text
        return text

    def label(self, name: str, lang: str = DEFAULT_LANGUAGE) -> str:
        """A short label (a button's text) from the labels template."""
        return str(getattr(self._template("labels", lang).module, name))

    def member_name(self, member: Member, lang: str = DEFAULT_LANGUAGE) -> str:
        """The name to show for a member: a forgotten member by their number only."""
        if member.forgotten_number is None:
            return member.name
        return self.render("forgotten_member", lang, number=member.forgotten_number)

    @jinja2.pass_context
    def _name_filter(self, context: jinja2.runtime.Context, member: Member) -> str:
        return self.member_name(member, context.get("lang", DEFAULT_LANGUAGE))

    def catalogue(self, name: str, lang: str = DEFAULT_LANGUAGE) -> Any:
        """The values a data template sets ({% set %}), e.g. the command menus."""
        return self._template(name, lang).module


def _squeeze(text: str) -> str:
    """Trim each line's end and collapse runs of blank lines that optional parts leave."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long text into messages at line ends, each within Telegram's limit.

    Templates that may run long keep every HTML tag within one line, so a cut between
    lines never breaks markup. A single line longer than the limit is cut hard.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        while utf16_len(line) > limit:
            head = line[: limit // 2]  # UTF-16 may double the length: stay safe
            line = line[len(head) :]
            if current:
                chunks.append("\n".join(current))
                current, size = [], 0
            chunks.append(head)
        extra = utf16_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
            extra = utf16_len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current))
    return [chunk for chunk in chunks if chunk.strip()]
