"""The languages the bot speaks, and which one a person or a group gets.

Codes are BCP 47 tags as Telegram and people write them (``zh-Hant``); each has a Babel
locale (``zh_Hant``) naming its catalog under ``locales/``.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh-Hans", "zh-Hant", "ru")
DEFAULT_LANGUAGE = "en"
# Each language's Babel locale: its catalog's folder and its number and date formats.
LOCALES = {"en": "en", "zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant", "ru": "ru"}

# The code each language's command menus are set for: Telegram takes a two-letter code
# (or none, for everyone else), so 繁體 readers get theirs per chat (/lang, the group's
# language) instead.
MENU_CODES: dict[str, str | None] = {"en": None, "zh-Hans": "zh", "ru": "ru"}

# What a person types to follow their Telegram app's language again (/lang auto).
FOLLOW_TELEGRAM = ("auto", "telegram", "自动", "自動", "авто")

# What people type for a language (/settings lang, /lang), lowercased, beside the codes.
_NAMES = {
    "english": "en",
    "英文": "en",
    "英語": "en",
    "английский": "en",
    "zh": "zh-Hans",
    "cn": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "chinese": "zh-Hans",
    "中文": "zh-Hans",
    "简体": "zh-Hans",
    "简体中文": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "繁體": "zh-Hant",
    "繁體中文": "zh-Hant",
    "繁体": "zh-Hant",
    "繁体中文": "zh-Hant",
    "русский": "ru",
    "russian": "ru",
}


def parse_language(text: str) -> str | None:
    """The language someone named (``zh``, ``zh_Hant``, ``繁體中文``, ``RU``), or None."""
    word = text.strip().lower().replace("_", "-")
    for code in LANGUAGES:
        if word == code.lower():
            return code
    return _NAMES.get(word)


def language_for(code: str | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """The language for a Telegram ``language_code`` (``ru``, ``zh-hant``, ``pt-br``).

    A language the bot does not speak gets `fallback`: the group's language where there
    is a group, else English.
    """
    if not code:
        return fallback
    word = code.strip().lower().replace("_", "-")
    if exact := parse_language(word):
        return exact
    if word.startswith("zh"):  # zh-hant-tw, zh-hans-raw: the script decides
        return "zh-Hant" if "hant" in word else "zh-Hans"
    base = parse_language(word.split("-", 1)[0])
    return base if base else fallback
