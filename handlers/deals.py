"""Deals: /deal, /repost, /deals, /close, /cancel, and the Join / Leave / Invite buttons."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.core import callbacks, sharing
from bot.core.errors import UserError
from bot.core.forms import written_in
from bot.core.models import Deal, Group, Member
from bot.core.rounds import CloseChoice
from bot.services.deals import GroupBuy
from handlers.access import from_someone, group_only, leaders_only, leads
from handlers.common import (
    Context,
    command_body,
    group_of,
    member_of,
    number,
    reply,
    reply_in,
    speaks,
)

log = logging.getLogger(__name__)


@from_someone
@leaders_only
async def post_deal(update: Update, context: Context, group: Group) -> None:
    """/deal: a leader posts a deal (the form may be a photo's caption)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    body = command_body(message, context.bot.username)
    if body is None:
        return
    if not body.strip():
        await reply(update, context, "deal_usage")
        return
    photo = message.photo[-1].file_id if message.photo else None
    try:
        await context.service.post_deal(group, member_of(user), body, photo)
    except UserError as error:  # answered in the language the form was written in
        lang = written_in(body, group.lang)
        await reply_in(lang, update, context, error.template, **error.context)


@from_someone
@leaders_only
async def repost_deal(update: Update, context: Context, group: Group) -> None:
    """/repost <deal> [deadline] [stock] [key=value …]: a leader posts a copy of a past deal
    (of this group, or of another group they lead) as a new deal here."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    body = command_body(message, context.bot.username)
    if body is None:
        return
    words = body.strip().split(maxsplit=1)
    deal_id = number(words[0]) if words else None
    if deal_id is None:
        await reply(update, context, "repost_usage")
        return
    overrides = words[1] if len(words) > 1 else ""
    try:
        await context.service.repost(group, member_of(user), deal_id, overrides)
    except UserError as error:
        lang = written_in(overrides, group.lang)
        await reply_in(lang, update, context, error.template, **error.context, repost=deal_id)


_PAST = ("past", "历史", "歷史", "往期", "прошлые", "архив")


@group_only
async def list_deals(update: Update, context: Context) -> None:
    """/deals: the group's open deals, each linking to its card; /deals past: its last
    deals, open or ended, to pick one to post again."""
    group = await group_of(update, context)
    args = context.args or []
    if args:
        if len(args) == 1 and args[0].lower() in _PAST:
            past = await context.service.past_deals(group.chat_id)
            await reply(update, context, "deals_past", deals=past, tz=group.tz)
        else:
            await reply(update, context, "deals_usage")
        return
    own = await context.service.open_deals(group.chat_id)
    shown = await context.service.shown_deals(group.chat_id)  # other groups' deals shown here
    linked = [(deal, _link_to_card(context, deal)) for deal in own]
    linked += [(deal, _link_to_card(context, deal, group.chat_id)) for deal in shown]
    linked.sort(key=lambda pair: (pair[0].deadline, pair[0].id))
    items = [{"deal": deal, "link": link} for deal, link in linked]
    await reply(update, context, "deals_list", deals=items, tz=group.tz)


def _link_to_card(context: Context, deal: Deal, chat_id: int | None = None) -> str:
    """The card's message in a supergroup (this group's, for a deal it shows from another);
    elsewhere a signed link that opens it privately."""
    found = sharing.message_link(chat_id or deal.chat_id, deal.card_message_id)
    payload = context.service.links.deal(deal.id)
    return found or f"https://t.me/{context.bot.username}?start={payload}"


@group_only
async def close_deal(update: Update, context: Context) -> None:
    """/close <deal> [confirm|cancel]: the leader ends a deal now."""
    await _end_deal(update, context, "close")


@group_only
async def cancel_deal(update: Update, context: Context) -> None:
    """/cancel <deal>: the leader cancels a deal and every order in it."""
    await _end_deal(update, context, "cancel")


async def _end_deal(update: Update, context: Context, command: str) -> None:
    chat = update.effective_chat
    args = context.args or []
    assert chat is not None
    deal_id = number(args[0]) if args else None
    choice: CloseChoice | None = None
    if command == "close" and len(args) == 2:
        choice = _choice(args[1])
    wrong_arity = len(args) > (2 if command == "close" else 1)
    if deal_id is None or wrong_arity or (len(args) == 2 and choice is None):
        await reply(update, context, "close_usage", command=command)
        return
    if not await leads(update, context, chat.id):  # after the usage: a wrong one is told first
        return
    groupbuy = context.service
    try:
        deal = await groupbuy.deal_in_group(deal_id, chat.id)
        if command == "cancel":
            if deal.status == "cancelled":
                raise UserError("deal_not_open", deal=deal)
            cancelled = await groupbuy.cancel(deal)
            await reply(
                update,
                context,
                "cancel_done",
                deal=deal,
                count=len(cancelled.lines) if cancelled else 0,
            )
        else:
            if deal.status != "open":
                raise UserError("deal_not_open", deal=deal)
            closed = await groupbuy.close(deal, choice)
            if closed is None or not closed.lines:  # else the group heard how it ended
                await reply(update, context, "close_done", deal=deal)
    except UserError as error:
        await reply(update, context, error.template, **error.context)


_CHOICES = {
    "confirm": CloseChoice.CONFIRM,
    "确认": CloseChoice.CONFIRM,
    "成团": CloseChoice.CONFIRM,
    "確認": CloseChoice.CONFIRM,
    "成團": CloseChoice.CONFIRM,
    "подтвердить": CloseChoice.CONFIRM,
    "cancel": CloseChoice.CANCEL,
    "取消": CloseChoice.CANCEL,
    "отменить": CloseChoice.CANCEL,
}


def _choice(text: str) -> CloseChoice | None:
    return _CHOICES.get(text.lower())


async def tap(update: Update, context: Context) -> None:
    """A deal-card button (Join, Leave, Invite, Notify me) or a waitlist or pickup button.

    Every tap is answered once, with what it did or why not.
    """
    query = update.callback_query
    if query is None:
        return
    groupbuy = context.service
    with groupbuy.notify.taps.answering():
        await _tap(update, context, groupbuy, query)


async def _tap(update: Update, context: Context, groupbuy: GroupBuy, query: CallbackQuery) -> None:
    lang = await speaks(context, query.from_user)
    decoded = callbacks.decode(query.data)
    if decoded is None or decoded.action not in callbacks.DEAL_ACTIONS:
        await query.answer(groupbuy.texts.render("tap_stale", lang))
        return
    if decoded.action in callbacks.CARD_ACTIONS and not await _on_its_card(
        groupbuy, decoded, query
    ):
        await query.answer(groupbuy.texts.render("tap_elsewhere", lang))
        return
    member = member_of(query.from_user)
    sharer = None  # who shared the copy tapped, for a join through it
    if query.inline_message_id is not None and decoded.action in callbacks.CARD_ACTIONS:
        sharer = await groupbuy.shared.tapped(query.inline_message_id, decoded, member)
    deal_id: int | None = None
    try:
        if decoded.action is callbacks.Action.INVITE:
            deal = await groupbuy.deal(decoded.target)
            if deal is None:
                raise UserError("tap_stale")
            if deal.status != "open":
                raise UserError("tap_closed")
            # A member who started the bot gets the link at once; the others are sent
            # to the bot through a deep link first, which then gives it. Either way the
            # member is kept, so that a friend who follows the link hears who invited them.
            await groupbuy.groups.save(member)
            link = groupbuy.referrals.invite_link(context.bot.username, deal.id, member.user_id)
            if not await groupbuy.notify.send_private(member, "invite_link", deal=deal, link=link):
                payload = groupbuy.links.invite_request(deal.id)
                await query.answer(url=f"https://t.me/{context.bot.username}?start={payload}")
                return
            text = groupbuy.texts.render("tap_invite_sent", lang, deal=deal)
        else:
            chat_id = query.message.chat.id if query.message is not None else None
            deal_id, text = await _act(groupbuy, decoded, member, query.id, lang, chat_id, sharer)
    except UserError as error:
        text = groupbuy.texts.render(error.template, lang, **error.context)
    try:
        await query.answer(text[:200])
    except BadRequest as exc:
        # A redelivered tap may have been answered the first time round.
        log.info("tap answer refused query=%s: %s", query.id, exc)
    if deal_id is not None:
        await _refresh_private_copy(update, context, deal_id)


async def _on_its_card(groupbuy: GroupBuy, tap: callbacks.Tap, query: CallbackQuery) -> bool:
    """Whether a card button was tapped where the deal's card is: in the deal's group, or
    on a card the bot showed in this chat (a forged button anywhere else is refused)."""
    deal_id: int | None = tap.target
    if tap.action in (callbacks.Action.JOIN_OPTION, callbacks.Action.WAIT_OPTION):
        option = await groupbuy.option(tap.target)
        deal_id = option.deal_id if option else None
    if deal_id is None:
        return True  # nothing to see or join there: the tap is answered as stale
    chat_id = query.message.chat.id if query.message is not None else None
    if query.inline_message_id is not None:
        chat_id = sharing.SHARED_CHAT  # a copy shared into another chat: its own key
    return await groupbuy.cards.tap_allowed(deal_id, chat_id, tap.extra)


async def _act(
    groupbuy: GroupBuy,
    tap: callbacks.Tap,
    member: Member,
    query_id: str,
    lang: str,
    chat_id: int | None,
    sharer: int | None = None,
) -> tuple[int | None, str]:
    """Do what the button says; (the deal it touched, the answer to show). A join on the
    card in a further group that shows the deal notes that group on the order."""
    Action = callbacks.Action
    texts = groupbuy.texts
    if tap.action in (Action.JOIN_OPTION, Action.WAIT_OPTION):
        option = await groupbuy.option(tap.target)
        if option is None:
            raise UserError("tap_stale")
        deal_id, option_id = option.deal_id, option.id
    else:
        deal_id, option_id = tap.target, None
    if tap.action in (Action.JOIN, Action.JOIN_OPTION, Action.TAKE):
        if tap.action is Action.TAKE:
            joined = await groupbuy.waitlist.take_offer(tap.target, member, query_id)
        else:
            via = await groupbuy.cards.via_group(deal_id, chat_id)
            joined = await groupbuy.join(
                deal_id, member, query_id, option_id, via_chat_id=via, referrer=sharer
            )
        formed = joined.closed is not None and joined.closed.round.status == "formed"
        text = texts.render(
            "tap_formed" if formed else "tap_joined",
            lang,
            deal=joined.deal,
            quantity=joined.quantity,
            round_number=joined.round_number,
            members=joined.members,
            option=joined.option,
        )
        return joined.deal.id, text
    if tap.action is Action.LEAVE:
        left = await groupbuy.leave(deal_id, member, query_id)
        return deal_id, texts.render("tap_left", lang, deal=left.deal, released=left.released)
    if tap.action in (Action.WAIT, Action.WAIT_OPTION):
        added = await groupbuy.waitlist.wait(deal_id, option_id, member)
        return None, texts.render("tap_waiting" if added else "tap_waiting_already", lang)
    assert tap.action is Action.PICK and tap.extra is not None
    name = await groupbuy.choose_pickup(deal_id, member, tap.extra)
    return None, texts.render("tap_pickup", lang, name=name)


async def _refresh_private_copy(update: Update, context: Context, deal_id: int) -> None:
    """A card opened from a deep link lives in a private chat: show the tap there too."""
    query = update.callback_query
    message = query.message if query else None
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    groupbuy = context.service
    view = await groupbuy.view(deal_id)
    if view is None:
        return
    try:
        await groupbuy.cards.show(view, message.chat.id, message.message_id)
    except TelegramError as exc:
        log.warning("private card refresh failed deal=%s: %s", deal_id, exc)
