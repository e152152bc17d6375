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


class TolerantBot(ExtBot[None]):
    """An ExtBot whose polling survives an update it cannot parse.

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
