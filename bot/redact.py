"""Secrets never reach an output: every log record of the process, and every line the
console command prints, has the token, the proxy and database passwords, the webhook
secret and the payment provider token masked, whatever a library put in its text (PTB
logs its URL, token included)."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.config import Settings

MASK = "***"

_secrets: set[str] = set()
_installed: list[bool] = []


def hide_secrets_of(settings: Settings) -> None:
    """Mask this configuration's secrets in every log record from now on (and in `scrub`)."""
    telegram = settings.telegram
    token = telegram.token.get_secret_value()
    # The bot id before the colon is public; the rest alone is still the secret.
    hide(token, token.partition(":")[2])
    hide(_password(telegram.proxy.get_secret_value()), _password(settings.storage.url))
    if telegram.webhook.secret_token is not None:
        hide(telegram.webhook.secret_token.get_secret_value())
    if settings.payments.provider_token is not None:
        provider = settings.payments.provider_token.get_secret_value()
        # "284685063:TEST:abc": the part after the provider's id is the secret.
        hide(provider, provider.partition(":")[2])
    if not _installed:
        _installed.append(True)
        _install_record_factory()


def hide(*secrets: str) -> None:
    """Add secrets to mask (empty ones are ignored)."""
    _secrets.update(secret for secret in secrets if secret)


def scrub(text: str) -> str:
    """The text with every known secret masked, the longest first (a token contains its
    own secret part)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _password(url: str) -> str:
    """A URL's password, as written (escaped) and as sent, joined so both get hidden."""
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:
        return ""
    if not password:
        return ""
    hide(unquote(password))
    return password


def _install_record_factory() -> None:
    """Scrub each record as it is made: before any handler (pytest's caplog included) or
    formatter sees it. Made only for records at an enabled level, so the cost is small."""
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call is logging's to report, not ours
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter uses this text instead of formatting the exception itself.
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    logging.setLogRecordFactory(scrubbed_record)
