"""The languages the bot speaks, and which one a Telegram language code gets."""

from __future__ import annotations

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"


def language_for(code: str | None) -> str:
    """The language for a Telegram language_code: Chinese for zh*, else English."""
    return "zh" if code and code.lower().startswith("zh") else DEFAULT_LANGUAGE
