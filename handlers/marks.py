"""Marking a member's orders by name: /paid @ann, /collected Ann Lee, and the buttons under
the reply (a deal to mark, when the member has unmarked orders in several; Undo)."""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.core import callbacks
from bot.core.models import Deal
from handlers.access import DealTap, deal_leaders_tap, groups_asked
from handlers.common import Context, in_group, language, reply, speaks

log = logging.getLogger(__name__)

# A member as a leader may name them: @username, or a name as the member shows it.
_USERNAME = re.compile(r"@[A-Za-z0-9_]{1,32}")
NAME_MAX = 64


def name_typed(args: list[str]) -> str | None:
    """The member a /paid or /collected names without a deal (`@ann`, `ann`, `Ann Lee`),
    or None if the words are not a name (a number first, an odd @name, too long)."""
    typed = " ".join(args)
    if not args or args[0].removeprefix("#").isdigit() or len(typed) > NAME_MAX:
        return None
    if typed.startswith("@"):
        return typed if _USERNAME.fullmatch(typed) else None
    return typed


async def mark_by_name(
    update: Update,
    context: Context,
    mark: str,
    typed: str,
    undo: bool,
    *,
    nobody: str = "mark_name_not_found",
) -> None:
    """/paid @ann: mark the member's confirmed orders lacking the mark in this group's
    deals (privately, in the groups the sender leads); with several deals, ask which.
    `nobody` is the answer when the name fits no member."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    groups = await groups_asked(update, context)
    if groups is None:
        return
    if undo:
        await reply(update, context, "mark_name_undo", command=mark, who=typed)
        return
    chat_ids = [group.chat_id for group in groups]
    reports = context.reports
    members = await reports.members_named(chat_ids, typed)
    here = in_group(update.effective_chat)
    if not members:
        if typed.startswith("@"):
            await reply(update, context, "member_not_found", who=typed)
        else:
            await reply(update, context, nobody, who=typed, code=typed, command=mark, here=here)
        return
    if len(members) > 1:
        await reply(
            update, context, "mark_name_ambiguous", who=typed, members=members, command=mark
        )
        return
    member = members[0]
    deals = await reports.unmarked_by_deal(chat_ids, member, mark)
    lang = await language(update, context)
    if len(deals) > 1:
        text, markup = reports.deal_choice(member, deals, mark, lang)
    else:
        batch = await reports.mark_member(deals[0][0], member, mark, user.id) if deals else None
        if batch is None:  # nothing lacks the mark (or another leader was quicker)
            await reply(update, context, "mark_nothing", member=member, mark=mark, here=here)
            return
        text, markup = reports.marked_reply(batch, lang)
    await message.reply_text(text, reply_markup=markup, do_quote=here)


async def _deal_of(context: Context, tap: callbacks.Tap) -> Deal | None:
    """The deal a button under a /paid @name reply is about."""
    if tap.action is callbacks.Action.UNDO_MARKS:
        return await context.reports.batch_deal(tap.target)
    return await context.service.deal(tap.target)


@deal_leaders_tap(_deal_of)
async def named_mark_tap(update: Update, context: Context, tapped: DealTap) -> None:
    """A deal's button (mark the member's orders in it) or Undo, under a /paid @name reply:
    the tap says what it did, and the reply then says it too."""
    query, tap, deal = tapped.query, tapped.tap, tapped.deal
    groupbuy = context.service
    reports = context.reports
    lang = await speaks(context, query.from_user)
    shown = lang
    if tapped.message.chat.type != ChatType.PRIVATE:
        group = await groupbuy.groups.known(deal.chat_id)
        shown = group.lang if group is not None else lang
    markup: InlineKeyboardMarkup | None = None
    if tap.action is callbacks.Action.UNDO_MARKS:
        undone = await reports.undo_batch(tap.target, tap.extra or tap.target, query.from_user.id)
        if undone is None:
            await query.answer(groupbuy.texts.render("tap_stale", lang))
            return
        if not undone.cleared:  # undone already (a tap delivered twice), or marked again
            await query.answer(groupbuy.texts.render("tap_undo_nothing", lang, undone=undone))
            return
        await query.answer(groupbuy.texts.render("tap_undone", lang, undone=undone))
        text = groupbuy.texts.render("unmarked_member", shown, undone=undone)
    else:
        mark = "paid" if tap.action is callbacks.Action.MARK_DEAL_PAID else "collected"
        member = await groupbuy.groups.member(tap.extra) if tap.extra else None
        if member is None:
            await query.answer(groupbuy.texts.render("tap_stale", lang))
            return
        batch = await reports.mark_member(deal, member, mark, query.from_user.id)
        if batch is None:  # marked already (a tap delivered twice, or another leader)
            await query.answer(
                groupbuy.texts.render("tap_mark_nothing", lang, member=member, deal=deal, mark=mark)
            )
            return
        await query.answer(groupbuy.texts.render("tap_marked_member", lang, batch=batch))
        text, markup = reports.marked_reply(batch, shown)
    try:
        await tapped.message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:  # the message is gone, or too old to edit: the tap said it
        log.info("mark reply not edited chat=%s: %s", tapped.message.chat.id, exc)
