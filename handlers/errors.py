"""The last line of defence: log what broke with its context; show the user no traceback."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from handlers.common import Context, language

log = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Log the error with the chat, user and update; tell the user briefly if we can."""
    if not isinstance(update, Update):
        log.error("error outside an update: %s", context.error, exc_info=context.error)
        return
    chat = update.effective_chat
    user = update.effective_user
    if isinstance(context.error, Forbidden):
        # Removed from the group (or blocked privately) while the update was on its way:
        # expected, and an apology could not be delivered either.
        log.warning(
            "update %s not answered chat=%s user=%s: %s",
            update.update_id,
            chat.id if chat else None,
            user.id if user else None,
            context.error,
        )
        return
    log.error(
        "update %s failed chat=%s user=%s: %r",
        update.update_id,
        chat.id if chat else None,
        user.id if user else None,
        context.error,
        exc_info=context.error,
    )
    try:
        texts = context.service.texts
        lang = await language(update, context)
        if update.callback_query is not None:
            await update.callback_query.answer(texts.render("tap_error", lang))
        elif update.effective_message is not None:
            await update.effective_message.reply_text(texts.render("error", lang))
    except TelegramError:
        pass  # the apology failed too; the log line above is what matters
