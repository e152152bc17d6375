"""Shared deal cards: the rules of copies sent into other chats through inline mode (a
member types `@bot` anywhere and picks a deal), kept current by their inline_message_id."""

from __future__ import annotations

from dataclasses import dataclass

# The pseudo chat whose card key a shared copy's buttons carry: a tap with an
# inline_message_id counts only with this key (the copy's chat is unknown to the bot).
SHARED_CHAT = 0
# Copies of one deal kept current; older ones are edited once to link to the current card.
LIVE_COPIES = 50
# Results in one answer to an inline query (Telegram allows 50).
RESULTS_PER_PAGE = 20

_RESULT_PREFIX = "deal:"
# How Telegram says a copy is gone (deleted, or its id unknown): it is dropped then.
_GONE = ("message_id_invalid", "message to edit not found", "message not found")


@dataclass(frozen=True)
class SharedCopy:
    """One copy of a deal card in some chat, addressed by its inline_message_id."""

    inline_message_id: str
    deal_id: int
    sharer_id: int | None  # None: first seen in a tap, its sharer unknown
    created_at: int


def result_id(deal_id: int) -> str:
    """The id of an inline result showing a deal (well under Telegram's 64 bytes)."""
    return f"{_RESULT_PREFIX}{deal_id}"


def deal_of_result(result: str | None) -> int | None:
    """The deal an inline result's id names, or None for anything else."""
    if not result or not result.startswith(_RESULT_PREFIX):
        return None
    number = result.removeprefix(_RESULT_PREFIX)
    if not (number.isascii() and number.isdigit()) or len(number) > 15 or number[0] == "0":
        return None
    return int(number)


def page_start(offset: str | None) -> int:
    """Where the page an inline query asks for starts (its offset is ours, or empty)."""
    if offset and offset.isascii() and offset.isdigit() and len(offset) <= 6:
        return int(offset)
    return 0


def next_offset(start: int, shown: int, more: bool) -> str:
    """The offset of the following page, or "" when this page is the last."""
    return str(start + shown) if more else ""


def split_live(
    newest_first: list[SharedCopy], cap: int
) -> tuple[list[SharedCopy], list[SharedCopy]]:
    """(the copies kept current: the latest `cap`, the older ones to retire)."""
    return newest_first[:cap], newest_first[cap:]


def gone(error: str) -> bool:
    """Whether Telegram's answer to an edit says the copy no longer exists."""
    lowered = error.lower()
    return any(words in lowered for words in _GONE)


def message_link(chat_id: int, message_id: int | None) -> str | None:
    """A t.me link to a message in a supergroup (basic groups have none)."""
    text = str(chat_id)
    if message_id is None or not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{message_id}"
