"""The bot object: PTB's ExtBot, whose polling survives an update it cannot read."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from telegram import Update
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

log = logging.getLogger(__name__)

UNREADABLE = (TypeError, ValueError, KeyError, AttributeError)
ANSWER_LIMIT = 200  # characters Telegram shows in a button's answer; a longer one is refused


def within_answer_limit(text: str) -> str:
    """A button's answer cut to what Telegram takes (a long member name can outgrow it)."""
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…"


class TolerantBot(ExtBot[None]):
    """An ExtBot whose polling survives an update it cannot parse, and whose button
    answers always fit Telegram's 200 characters.

    PTB parses a getUpdates batch as a whole: one update it cannot read (a field from a
    newer Bot API, say) fails the batch, and since the offset never moves past it, the
    bot would fetch that batch forever. Here the batch is fetched again as plain JSON and
    read one update at a time; an unreadable one becomes an empty Update with its id, so
    polling moves on.
    """

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Fetch updates; on a parse failure, parse them one by one and skip the bad."""
        try:
            return await super().get_updates(*args, **kwargs)
        except UNREADABLE:
            pass
        offset = kwargs.get("offset", args[0] if args else None)
        with warnings.catch_warnings():
            # PTB suggests get_updates() here; it is the one call that cannot help.
            warnings.simplefilter("ignore", PTBUserWarning)
            raw = await self.do_api_request(
                "getUpdates", api_kwargs={"offset": offset, "timeout": 0}
            )
        updates = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
                continue
            try:
                update = Update.de_json(item, self)
            except UNREADABLE as exc:
                log.error("skipping unreadable update %s: %r", item["update_id"], exc)
                update = Update(update_id=item["update_id"])
            if update is not None:
                updates.append(update)
        return tuple(updates)

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        """Answer a button, the text cut to Telegram's limit: a refused answer would leave
        the member with a spinning button and no word."""
        if isinstance(kwargs.get("text"), str):
            kwargs["text"] = within_answer_limit(kwargs["text"])
        elif len(args) > 1 and isinstance(args[1], str):
            args = (args[0], within_answer_limit(args[1]), *args[2:])
        return await super().answer_callback_query(*args, **kwargs)
