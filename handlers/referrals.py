"""Referrals: /invite, /rewards, /top, /payout, and group invites from member updates."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from telegram import Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot.core import currency
from bot.core.errors import UserError
from bot.core.models import Deal, Group, Standing
from bot.core.money import parse_money
from bot.services.deals import GroupBuy
from handlers.access import from_someone, group_only, leaders_only
from handlers.common import (
    Context,
    ask_to_start,
    group_of,
    in_group,
    member_of,
    number,
    reply,
)

log = logging.getLogger(__name__)

_ABSENT = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
_PRESENT = (ChatMemberStatus.MEMBER, ChatMemberStatus.RESTRICTED)


async def _in_deals_group(groupbuy: GroupBuy, deals: list[Deal], user_id: int) -> bool:
    return bool(deals) and await groupbuy.groups.in_group_now(deals[0].chat_id, user_id)


async def invite_command(update: Update, context: Context) -> None:
    """/invite [deal]: my personal invite links, sent privately."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    groupbuy = context.service
    args = context.args or []
    deal_id = number(args[0]) if args else None
    if args and deal_id is None:
        await reply(update, context, "invite_usage")
        return
    if deal_id is not None:
        deal = await groupbuy.deal(deal_id)
        deals = [deal] if deal is not None and deal.status == "open" else []
        if not in_group(chat) and not await _in_deals_group(groupbuy, deals, user.id):
            deals = []  # a deal number alone opens nothing outside its group
    elif in_group(chat):
        deals = await groupbuy.open_deals(chat.id)
    else:
        await reply(update, context, "invite_usage")
        return
    if in_group(chat):
        deals = [deal for deal in deals if deal.chat_id == chat.id]
    if not deals:
        await reply(update, context, "invite_no_deal")
        return
    links = [
        {
            "deal": deal,
            "link": groupbuy.referrals.invite_link(context.bot.username, deal.id, user.id),
        }
        for deal in deals
    ]
    delivered = await groupbuy.notify.send_private(member_of(user), "invite_links", links=links)
    if in_group(chat):
        if delivered:
            await reply(update, context, "sent_privately")
        else:
            await ask_to_start(update, context)


async def rewards_command(update: Update, context: Context) -> None:
    """/rewards: my balance per group and my recent ledger entries, sent privately."""
    user = update.effective_user
    if user is None:
        return
    groupbuy = context.service
    balances, entries = await groupbuy.referrals.rewards_of(user.id)
    delivered = await groupbuy.notify.send_private(
        member_of(user), "rewards", balances=balances, entries=entries
    )
    if in_group(update.effective_chat):
        if delivered:
            await reply(update, context, "sent_privately")
        else:
            await ask_to_start(update, context)


@group_only
async def top_command(update: Update, context: Context) -> None:
    """/top: the group's referral leaderboard."""
    group = await group_of(update, context)
    standings = await context.service.referrals.leaderboard(group.chat_id)
    await reply(
        update, context, "top", standings=[await _named(context, group, s) for s in standings]
    )


async def _named(context: Context, group: Group, standing: Standing) -> Standing:
    """A standing whose member the store has no name for (one who only added people to
    the group) named as Telegram knows them now, for this answer only."""
    member = standing.member
    if member.first_name or member.username or member.forgotten_number is not None:
        return standing
    try:
        found = await context.bot.get_chat_member(group.chat_id, member.user_id)
    except TelegramError:
        return standing  # shown by id
    return replace(standing, member=member_of(found.user))


@from_someone
@leaders_only
async def payout_command(update: Update, context: Context, group: Group) -> None:
    """/payout <member> <amount>: the leader records a reward payout (a ledger entry)."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    groupbuy = context.service
    args = context.args or []
    target = None
    if len(args) == 2:
        target = await groupbuy.groups.find_member(args[0])
        amount_text = args[1]
    elif len(args) == 1 and message.reply_to_message and message.reply_to_message.from_user:
        target = member_of(message.reply_to_message.from_user)
        amount_text = args[0]
    else:
        await reply(update, context, "payout_usage")
        return
    if target is None:
        await reply(update, context, "member_not_found", who=args[0])
        return
    try:
        amount = parse_money(amount_text, currency.digits(group.currency))
    except ValueError:
        await reply(update, context, "payout_usage")
        return
    try:
        balance = await groupbuy.referrals.payout(group, target, amount, user.id)
    except UserError as error:
        await reply(update, context, error.template, member=target, **error.context)
        return
    await reply(
        update,
        context,
        "payout_done",
        member=target,
        amount=amount,
        balance=balance,
        currency=group.currency,
    )


async def member_update(update: Update, context: Context) -> None:
    """Someone was added to the group: count it for whoever added them."""
    change = update.chat_member
    if change is None:
        return
    old, new = change.old_chat_member.status, change.new_chat_member.status
    if old not in _ABSENT or new not in _PRESENT:
        return
    invitee = change.new_chat_member.user
    inviter = change.from_user
    if change.invite_link is not None and inviter.id == invitee.id:
        inviter = change.invite_link.creator  # joined through a member's invite link
    if inviter.is_bot or invitee.is_bot or inviter.id == invitee.id:
        return
    await _count_invite(update, context, inviter, [invitee])


async def members_added(update: Update, context: Context) -> None:
    """A 'X added Y' service message (the way groups without admin rights learn of it)."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    invitees = [
        u for u in message.new_chat_members if not u.is_bot and u.id != message.from_user.id
    ]
    if invitees and not message.from_user.is_bot:
        await _count_invite(update, context, message.from_user, invitees)


async def _count_invite(
    update: Update, context: Context, inviter: User, invitees: Sequence[User]
) -> None:
    group = await group_of(update, context)
    groupbuy = context.service
    for invitee in invitees:
        await groupbuy.referrals.count_invite(group.chat_id, inviter.id, invitee.id)
