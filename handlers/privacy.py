"""/forgetme: a member erases their personal data, after confirming with a button."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.core import callbacks
from handlers.common import Context, in_group, reply, speaks

log = logging.getLogger(__name__)


async def forgetme_command(update: Update, context: Context) -> None:
    """/forgetme: privately, ask to confirm (it cannot be undone); in a group, say where."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    if in_group(update.effective_chat):
        await reply(update, context, "forgetme_private")
        return
    texts = context.service.texts
    lang = await speaks(context, user)
    button = InlineKeyboardButton(
        texts.label("forget_me", lang),
        callback_data=callbacks.FORGET.data(callbacks.Action.FORGET, user.id),
    )
    await message.reply_text(
        texts.render("forgetme_confirm", lang), reply_markup=InlineKeyboardMarkup([[button]])
    )


async def forget_tap(update: Update, context: Context) -> None:
    """The confirm button under /forgetme: erase the member's names, keep their orders."""
    query = update.callback_query
    if query is None:
        return
    tap = callbacks.decode(query.data)
    texts = context.service.texts
    lang = await speaks(context, query.from_user)
    if tap is None or tap.target != query.from_user.id:
        await query.answer(texts.render("tap_stale", lang))
        return
    groupbuy = context.service
    await groupbuy.groups.forget(query.from_user.id)
    log.info("member %s forgotten", query.from_user.id)
    await query.answer()
    await query.edit_message_text(texts.render("forgetme_done", lang))
