"""Every user-facing text: jinja2 templates under templates/<lang>/, with shared filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from bot.core import currency as currencies
from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from bot.core.models import Member

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PLAIN_PREFIXES = ("tap_", "button_")

# Telegram's limits, counted in UTF-16 code units as Telegram counts them.
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def money(minor: int, currency: str) -> str:
    """12.50 as "¥12.50", or "12.50 XYZ" for a currency without a well-known sign."""
    places = currencies.digits(currency)
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 10**places) if places else (abs(minor), 0)
    amount = f"{units:,}" + (f".{cents:0{places}d}" if places else "")
    mark = currencies.symbol(currency)
    return f"{sign}{mark}{amount}" if mark else f"{sign}{amount} {currency.upper()}"


def local_time(timestamp: int, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the group's time zone."""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(ZoneInfo(tz)).strftime(fmt)


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
    """Renders templates by name and language, falling back to English."""

    def __init__(self, root: Path = TEMPLATES) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            autoescape=True,  # every message goes out as HTML; user text is escaped
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            # Templates ship with the code: no file-time check on every render.
            auto_reload=False,
        )
        self.env.filters["money"] = money
        self.env.filters["local_time"] = local_time
        self.env.filters["progress"] = progress
        self.env.filters["duration"] = split_duration
        self.env.filters["name"] = self._name_filter
        # Button answers (tap_*) and button labels (button_*) are plain text: Telegram
        # shows them without parse mode.
        self.plain_env = self.env.overlay(autoescape=False)
        self.root = root
        self._fixed: dict[tuple[str, str], str] = {}

    def _template(self, name: str, lang: str) -> jinja2.Template:
        env = self.plain_env if name.startswith(PLAIN_PREFIXES) else self.env
        lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        try:
            return env.get_template(f"{lang}/{name}.j2")
        except jinja2.TemplateNotFound:
            return env.get_template(f"{DEFAULT_LANGUAGE}/{name}.j2")

    def render(self, template: str, lang: str = DEFAULT_LANGUAGE, /, **context: Any) -> str:
        """The message `template` in `lang`, as Telegram HTML, trimmed."""
        if not context and (fixed := self._fixed.get((template, lang))) is not None:
            return fixed  # "Sold out." to the 500th member of a flash sale: render it once
        text = _squeeze(self._template(template, lang).render(lang=lang, **context))
        if not context:
            self._fixed[(template, lang)] = text
        return text

    def label(self, name: str, lang: str = DEFAULT_LANGUAGE) -> str:
        """A short label (a button's text) from the language's labels template."""
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
