"""/start (with its deep-link payloads) and /help."""

from __future__ import annotations

from telegram import Update

from bot.core.errors import UserError
from bot.core.models import DealStatus
from handlers.common import Context, in_group, is_leader, member_of, reply
from handlers.orders import orders_command


async def start(update: Update, context: Context) -> None:
    """/start [payload]: welcome, or open a deal card, or hand out my invite link."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or in_group(chat):
        return
    groupbuy = context.service
    await groupbuy.groups.save(member_of(user))
    if not context.args:
        await reply(update, context, "start")
        return
    if context.args[0] == "orders":  # from the button under /orders in a group
        await orders_command(update, context)
        return
    payload = groupbuy.links.parse(context.args[0])
    if payload is not None and payload.kind == "unsigned":
        # A bare deal number opens nothing: the deal is not even looked up.
        await reply(update, context, "link_outdated")
        return
    deal = await groupbuy.deal(payload.deal_id) if payload else None
    if payload is None or deal is None:
        await reply(update, context, "bad_payload")
        return
    if deal.status is not DealStatus.OPEN:
        await reply(update, context, "deal_gone", deal=deal)
        return
    if payload.kind == "helper" and payload.commission is not None:
        try:
            deal, kept = await groupbuy.spread.accept_helper(
                deal.id, payload.commission, member_of(user)
            )
        except UserError as error:
            await reply(update, context, error.template, **error.context)
            return
        await reply(update, context, "helper_accepted", deal=deal, commission=kept)
        return
    if payload.kind == "invite":
        link = groupbuy.referrals.invite_link(context.bot.username, deal.id, user.id)
        await reply(update, context, "invite_link", deal=deal, link=link)
        return
    if payload.kind == "ref" and payload.referrer_id is not None:
        verdict = await groupbuy.referrals.follow_invite(deal, member_of(user), payload.referrer_id)
        referrer = await groupbuy.groups.member(payload.referrer_id)
        await reply(update, context, "invite_followed", verdict=verdict, referrer=referrer)
    view = await groupbuy.view(deal.id)
    assert view is not None
    await groupbuy.cards.send(view, chat.id)


async def help_command(update: Update, context: Context) -> None:
    """/help: what the bot does and the commands this person may use."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None:
        return
    if in_group(chat):
        leader = await is_leader(update, context, chat.id)
    else:
        leader = bool(await context.reports.groups_led_by(user.id))
    await reply(update, context, "help", leader=leader, private=not in_group(chat))
