"""One deal in several groups and helper leaders: /share and /helpsell."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.core.errors import UserError
from bot.core.models import Group
from bot.core.spread import parse_percent
from handlers.access import from_someone, leaders_anywhere, leaders_only
from handlers.common import Context, member_of, number, reply


@from_someone
@leaders_only
async def share_command(update: Update, context: Context, group: Group) -> None:
    """/share <deal>: show a deal of another group the sender leads here (one stock, one
    set of rounds; a per-group deal is posted here as a deal of its own), or a deal whose
    leader invited the sender to help sell it. The card in this group is the answer."""
    user = update.effective_user
    assert user is not None
    args = context.args or []
    deal_id = number(args[0]) if len(args) == 1 else None
    if deal_id is None:
        await reply(update, context, "share_usage")
        return
    try:
        await context.service.spread.share(deal_id, group, member_of(user))
    except UserError as error:
        await reply(update, context, error.template, **error.context)


@from_someone
@leaders_anywhere
async def helpsell_command(update: Update, context: Context, groups: list[Group]) -> None:
    """/helpsell <deal> <percent>: a signed link for the leader of another group to sell the
    deal there for a commission on each order from their group. Given privately: in a
    group the link goes to the sender's private chat."""
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    args = context.args or []
    deal_id = number(args[0]) if len(args) == 2 else None
    commission = parse_percent(args[1]) if len(args) == 2 else None
    if deal_id is None or commission is None:
        await reply(update, context, "helpsell_usage")
        return
    groupbuy = context.service
    try:
        deal = await groupbuy.deal_in_groups(deal_id, [group.chat_id for group in groups])
        link = await groupbuy.spread.invite_helper(deal, commission, context.bot.username)
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return
    context_ = {"deal": deal, "link": link, "commission": commission}
    if chat.type == ChatType.PRIVATE:
        await reply(update, context, "helpsell_link", **context_)
    elif await groupbuy.notify.send_private(member_of(user), "helpsell_link", **context_):
        await reply(update, context, "helpsell_sent")
    else:
        await reply(update, context, "helpsell_start_first", bot=context.bot.username)
