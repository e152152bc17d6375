"""Payment chasing: "I've paid" from members, the leader's answer, /unpaid and reminders;
Telegram Payments' pre-checkout and successful payment."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.models import Group, OrderStatus
from handlers.access import from_someone, leaders_anywhere
from handlers.common import Context, member_of, speaks, told_privately

log = logging.getLogger(__name__)


async def payment_tap(update: Update, context: Context) -> None:
    """I've paid (member), Received / Not received (leader), Remind them all (leader)."""
    query = update.callback_query
    if query is None:
        return
    groupbuy = context.service
    lang = await speaks(context, query.from_user)
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
        elif tap.action is Action.REFUNDED:
            row = await groupbuy.payments.mark_refunded(tap.target, query.from_user.id)
            text = groupbuy.texts.render("tap_refunded", lang, row=row)
            if isinstance(query.message, Message):
                group = await groupbuy.groups.known(row.deal.chat_id)
                if group is not None:
                    await _redraw_refunds(context, query.message, group, lang)
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
    lang = await speaks(context, user)
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


# Buttons under one /refunds list (the rest after these are marked); the list shows as
# many lines (templates/refunds.j2), so that it stays one message, redrawn in place.
REFUND_BUTTONS = 10


@from_someone
@leaders_anywhere
async def refunds_command(update: Update, context: Context, groups: list[Group]) -> None:
    """/refunds: paid orders since cancelled, owed back, privately, each with a button to
    mark it refunded."""
    user = update.effective_user
    if user is None:
        return
    lang = await speaks(context, user)
    delivered = True
    for group in groups:
        text, markup = await _refunds_view(context, group, lang)
        try:
            await context.service.notify.send_text(user.id, text, markup)
        except Forbidden:
            delivered = False
            break
    await told_privately(update, context, delivered)


async def _refunds_view(
    context: Context, group: Group, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    groupbuy = context.service
    rows = await groupbuy.payments.refunds_owed(group.chat_id)
    text = groupbuy.texts.render(
        "refunds", lang, group=group, rows=rows, buttons=min(len(rows), REFUND_BUTTONS)
    )
    buttons = [
        [
            InlineKeyboardButton(
                groupbuy.texts.render("button_refunded", lang, row=row),
                callback_data=callbacks.PAYMENTS.data(callbacks.Action.REFUNDED, row.order.id),
            )
        ]
        for row in rows[:REFUND_BUTTONS]
    ]
    return text, InlineKeyboardMarkup(buttons) if buttons else None


async def _redraw_refunds(context: Context, message: Message, group: Group, lang: str) -> None:
    """The /refunds list again, without what was just marked."""
    text, markup = await _refunds_view(context, group, lang)
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:
        log.debug("refunds list not redrawn: %s", exc)


async def pre_checkout(update: Update, context: Context) -> None:
    """Pre-checkout: OK only for an order still confirmed, unpaid, at its amount. Answered
    at once (Telegram waits 10 s); the answer is not paced behind the outbound queue."""
    query = update.pre_checkout_query
    if query is None:
        return
    groupbuy = context.service
    refusal = await groupbuy.payments.check_out(
        query.invoice_payload, query.currency, query.total_amount, query.from_user.id
    )
    if refusal is None:
        await query.answer(ok=True)
        return
    lang = await speaks(context, query.from_user)
    log.info("pre-checkout refused user=%s: %s", query.from_user.id, refusal)
    await query.answer(ok=False, error_message=groupbuy.texts.render(refusal, lang)[:255])


async def successful_payment(update: Update, context: Context) -> None:
    """A member paid an invoice: the order is marked paid once, and they are thanked."""
    message = update.message
    if message is None or message.successful_payment is None or message.from_user is None:
        return
    paid = message.successful_payment
    groupbuy = context.service
    row = await groupbuy.payments.invoice_paid(
        paid.invoice_payload,
        paid.telegram_payment_charge_id,
        paid.provider_payment_charge_id,
        message.from_user.id,
    )
    if row is None:
        return
    if row.order.status is OrderStatus.CANCELLED:  # paid after its deal or window ended
        await groupbuy.payments.tell_refunds(row.deal, [row])
        return
    await groupbuy.notify.send_private(row.member, "payment_invoice_paid", row=row)
