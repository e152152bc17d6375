"""Payment chasing: "I've paid" from members, the leader's answer, /unpaid and reminders."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.languages import language_for
from bot.core.models import Group
from handlers.access import from_someone, leaders_anywhere
from handlers.common import Context, member_of, told_privately

log = logging.getLogger(__name__)


async def payment_tap(update: Update, context: Context) -> None:
    """I've paid (member), Received / Not received (leader), Remind them all (leader)."""
    query = update.callback_query
    if query is None:
        return
    groupbuy = context.service
    lang = language_for(query.from_user.language_code)
    tap = callbacks.decode(query.data)
    Action = callbacks.Action
    try:
        if tap is None:
            raise UserError("tap_stale")
        if tap.action is Action.I_PAID:
            await groupbuy.payments.claim_paid(tap.target, member_of(query.from_user))
            text = groupbuy.texts.render("tap_claimed", lang)
        elif tap.action in (Action.PAY_OK, Action.PAY_NO):
            accept = tap.action is Action.PAY_OK
            row = await groupbuy.payments.settle_claim(tap.target, accept, query.from_user.id)
            text = groupbuy.texts.render("tap_claim_done", lang, accept=accept, row=row)
            if isinstance(query.message, Message):
                await _drop_buttons(query.message)
        elif tap.action is Action.REMIND:
            chat_id = -tap.target
            if not await groupbuy.groups.is_leader(chat_id, query.from_user.id):
                raise UserError("tap_not_leader")
            sent, skipped = await groupbuy.payments.remind_unpaid(chat_id)
            text = groupbuy.texts.render("tap_reminded", lang, sent=sent, skipped=skipped)
        else:
            raise UserError("tap_stale")
    except UserError as error:
        text = groupbuy.texts.render(error.template, lang, **error.context)
    try:
        await query.answer(text[:200])
    except BadRequest as exc:
        log.info("tap answer refused query=%s: %s", query.id, exc)


async def _drop_buttons(message: Message) -> None:
    try:
        await message.edit_reply_markup(reply_markup=None)
    except BadRequest as exc:
        log.debug("buttons not removed: %s", exc)


@from_someone
@leaders_anywhere
async def unpaid_command(update: Update, context: Context, groups: list[Group]) -> None:
    """/unpaid: confirmed orders not yet paid, privately, with a one-tap reminder."""
    user = update.effective_user
    if user is None:
        return
    groupbuy = context.service
    lang = language_for(user.language_code)
    delivered = True
    for group in groups:
        rows = await groupbuy.payments.unpaid(group.chat_id)
        text = groupbuy.texts.render("unpaid", lang, group=group, rows=rows)
        markup = None
        if rows:
            button = InlineKeyboardButton(
                groupbuy.texts.label("remind_all", lang),
                callback_data=callbacks.PAYMENTS.data(callbacks.Action.REMIND, -group.chat_id),
            )
            markup = InlineKeyboardMarkup([[button]])
        try:
            await groupbuy.notify.send_text(user.id, text, markup)
        except Forbidden:
            delivered = False
            break
    await told_privately(update, context, delivered)
