"""Structured logs: `log_format = "json"` writes one JSON object per line for a log
pipeline (`journalctl -o cat | jq`), with the ids of what the line is about.

Each line has `time`, `level`, `logger` and `message`, and where there is one the
`update_id`, `chat_id` and `user_id` of the update being handled (set for each update by
bot/metrics.py's update processor, and inherited by the tasks it starts), and the
`deal_id` and `round` the message names (`deal=12 round=3`, or `extra={"deal_id": 12}`).
Ids only: never a name, a token or a secret (bot/redact.py masks the message and the
traceback before they are written). A traceback is one field, `traceback`, of its line.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from telegram import Update

from bot.redact import scrub

# (update_id, chat_id, user_id) of the update this task handles.
_UPDATE: ContextVar[tuple[int, int | None, int | None] | None] = ContextVar(
    "log_update", default=None
)
# `chat=-100123`, `user=42`, `deal=7`, `round=2` in a message, and `update 123`.
_NAMED = re.compile(r"(?<![\w.])(chat|user|deal|round)=(-?\d+)\b|\bupdate (\d+)\b")
_FIELDS = {"chat": "chat_id", "user": "user_id", "deal": "deal_id", "round": "round"}
# The ids a line may carry, in this order; `extra=` may set each by its name.
_EXTRA = ("update_id", "chat_id", "user_id", "deal_id", "round")


def bind_update(update: object) -> Token[tuple[int, int | None, int | None] | None]:
    """Name this update (its id, chat and sender, by id) in every log line of this task
    and of the tasks it starts, until `unbind`."""
    if not isinstance(update, Update):
        return _UPDATE.set(None)
    chat, user = update.effective_chat, update.effective_user
    return _UPDATE.set((update.update_id, chat.id if chat else None, user.id if user else None))


def unbind(token: Token[tuple[int, int | None, int | None] | None]) -> None:
    """Back to the update named before `bind_update` (none, in an update's own task)."""
    _UPDATE.reset(token)


def ids_of(record: logging.LogRecord, message: str) -> dict[str, int]:
    """The ids a record is about: given with `extra=`, else named in its message, else
    those of the update being handled."""
    ids: dict[str, int] = {}
    for field in _EXTRA:
        value = getattr(record, field, None)
        if isinstance(value, int) and not isinstance(value, bool):
            ids[field] = value
    for match in _NAMED.finditer(message):
        key, value, update = match.groups()
        field = "update_id" if update is not None else _FIELDS[key]
        ids.setdefault(field, int(update if update is not None else value))
    context = getattr(record, "update_context", None)
    if isinstance(context, tuple):
        for field, value in zip(_EXTRA, context, strict=False):
            if value is not None:
                ids.setdefault(field, value)
    return {field: ids[field] for field in _EXTRA if field in ids}


class UpdateContext(logging.Filter):
    """Stamps each record with the update being handled where it was logged (the
    formatter may run later, or elsewhere)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "update_context"):
            record.update_context = _UPDATE.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line; secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        message = scrub(record.getMessage())
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        entry |= ids_of(record, message)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub(record.stack_info)
        # json.dumps escapes every newline: one record, one line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def use_format(log_format: str, logger: logging.Logger | None = None) -> None:
    """Write the handlers of `logger` (the root logger by default) in `log_format`."""
    if log_format != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonLines())
        handler.addFilter(UpdateContext())
