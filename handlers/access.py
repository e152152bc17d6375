"""Access checks, defined once: a handler wears one as a decorator instead of a preamble.

- `from_someone`: a message without a sender is not answered.
- `group_only`: a command for groups; elsewhere the reply says so, naming the command.
- `leaders_only`: a command for this group's leaders (an anonymous admin of this very
  group counts); elsewhere as `group_only`. The handler is given the group.
- `leaders_anywhere`: a leader's command that also works privately, for every group the
  sender leads. The handler is given the groups it covers.
- `leaders_tap`: a button under a group's message that only that group's leaders may use.
  The handler is given the tap.
- `deal_leaders_tap`: a button about one deal that only the leaders of the deal's group may
  use, under a message in that group or in the leader's private chat. The handler is given
  the tap and the deal.

Each refuses with the same template wherever it is worn (`group_only`, `not_leader`,
`tap_stale`, `tap_not_leader`), and checks in the order the refusals are promised: where
a command is, before who sent it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType

from bot.core import callbacks
from bot.core.models import Deal, Group
from handlers.common import Context, command_name, group_of, in_group, is_leader, reply, speaks

Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
GroupHandler = Callable[[Update, Context, Group], Coroutine[Any, Any, None]]
GroupsHandler = Callable[[Update, Context, list[Group]], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class GroupTap:
    """A tap on a button under a message in a group, its data read."""

    query: CallbackQuery
    message: Message
    tap: callbacks.Tap


TapHandler = Callable[[Update, Context, GroupTap], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class DealTap:
    """A tap on a button about one deal, its data read and its deal found."""

    query: CallbackQuery
    message: Message
    tap: callbacks.Tap
    deal: Deal


DealTapHandler = Callable[[Update, Context, DealTap], Coroutine[Any, Any, None]]


def from_someone(handler: Handler) -> Handler:
    """Not answered without a sender: Telegram names one in every group, so a message
    with none is forged (worn outside the checks it must come before)."""

    @functools.wraps(handler)
    async def sent(update: Update, context: Context) -> None:
        if update.effective_message is not None and update.effective_user is not None:
            await handler(update, context)

    return sent


def group_only(handler: Handler) -> Handler:
    """A command for groups: elsewhere it replies `group_only` with the command's name as
    typed (`/deal`). A command addressed to another bot is not answered at all."""

    @functools.wraps(handler)
    async def in_a_group(update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        name = command_name(message, context.bot.username)
        if name is None:
            return
        if not in_group(message.chat):
            await reply(update, context, "group_only", command=name)
            return
        await handler(update, context)

    return in_a_group


def leaders_only(handler: GroupHandler) -> Handler:
    """A command for this group's leaders: outside a group as `group_only`; from anyone
    else it replies `not_leader`. The handler is given the group."""

    @group_only
    @functools.wraps(handler)
    async def led(update: Update, context: Context) -> None:
        group = await led_group(update, context)
        if group is not None:
            await handler(update, context, group)

    return led


def leaders_anywhere(handler: GroupsHandler) -> Handler:
    """A leader's command that works privately too: the handler is given the groups it
    covers (see `groups_asked`); a sender who leads none is answered `not_leader`."""

    @functools.wraps(handler)
    async def led(update: Update, context: Context) -> None:
        groups = await groups_asked(update, context)
        if groups is not None:
            await handler(update, context, groups)

    return led


def leaders_tap(readable: Callable[[callbacks.Tap], bool]) -> Callable[[TapHandler], Handler]:
    """A button under a group's message that only the group's leaders may use. A tap
    whose data does not decode, or that `readable` refuses, or not made in a group, is
    answered `tap_stale`; a tap by anyone else than a leader of that group,
    `tap_not_leader`. The handler is given the tap."""

    def decorate(handler: TapHandler) -> Handler:
        @functools.wraps(handler)
        async def tapped(update: Update, context: Context) -> None:
            query = update.callback_query
            message = query.message if query else None
            if query is None or not isinstance(message, Message):
                return
            groupbuy = context.service
            lang = await speaks(context, query.from_user)
            tap = callbacks.decode(query.data)
            if tap is None or not readable(tap) or not in_group(message.chat):
                await query.answer(groupbuy.texts.render("tap_stale", lang))
                return
            if not await groupbuy.groups.is_leader(message.chat.id, query.from_user.id):
                await query.answer(groupbuy.texts.render("tap_not_leader", lang))
                return
            await handler(update, context, GroupTap(query, message, tap))

        return tapped

    return decorate


def deal_leaders_tap(
    deal_of: Callable[[Context, callbacks.Tap], Awaitable[Deal | None]],
) -> Callable[[DealTapHandler], Handler]:
    """A button about one deal (`deal_of` finds it from the tap) that only the leaders of
    the deal's group may use, in that group or in a private chat with the bot. A tap whose
    data does not decode or names no deal, or made in another group, is answered
    `tap_stale`; a tap by anyone else than a leader of the deal's group, `tap_not_leader`.
    The handler is given the tap and the deal."""

    def decorate(handler: DealTapHandler) -> Handler:
        @functools.wraps(handler)
        async def tapped(update: Update, context: Context) -> None:
            query = update.callback_query
            message = query.message if query else None
            if query is None or not isinstance(message, Message):
                return
            groupbuy = context.service
            lang = await speaks(context, query.from_user)
            tap = callbacks.decode(query.data)
            deal = await deal_of(context, tap) if tap is not None else None
            private = message.chat.type == ChatType.PRIVATE
            if tap is None or deal is None or not (private or message.chat.id == deal.chat_id):
                await query.answer(groupbuy.texts.render("tap_stale", lang))
                return
            if not await groupbuy.groups.is_leader(deal.chat_id, query.from_user.id):
                await query.answer(groupbuy.texts.render("tap_not_leader", lang))
                return
            await handler(update, context, DealTap(query, message, tap, deal))

        return tapped

    return decorate


async def leads(update: Update, context: Context, chat_id: int) -> bool:
    """Whether the sender leads the group; if not, having replied `not_leader`."""
    if await is_leader(update, context, chat_id):
        return True
    await reply(update, context, "not_leader")
    return False


async def led_group(update: Update, context: Context) -> Group | None:
    """The group the update came from, if the sender leads it; else None, having replied
    `not_leader`."""
    group = await group_of(update, context)
    return group if await leads(update, context, group.chat_id) else None


async def groups_asked(update: Update, context: Context) -> list[Group] | None:
    """The groups a leader's command covers: this group, or privately every group they lead.

    Replies with the refusal and returns None when the sender leads none.
    """
    user = update.effective_user
    assert user is not None
    if in_group(update.effective_chat):
        group = await led_group(update, context)
        return None if group is None else [group]
    groups = await context.reports.groups_led_by(user.id)
    if not groups:
        await reply(update, context, "not_leader")
        return None
    return groups
