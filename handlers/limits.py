"""The budget check before every handler: a command or a tap beyond its sender's (or its
group's) budget stops here, before the redelivery claim, the store and any leader check."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.limits import Verdict
from handlers.common import Context, command_body, in_group, member_of, speaks

log = logging.getLogger(__name__)


async def enforce(update: Update, context: Context) -> None:
    """Let the update through, or stop it quietly (telling the sender once per window)."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    groupbuy = context.service
    now = groupbuy.clock.now().timestamp()
    if update.inline_query is not None:
        # `@bot …` asks at each pause in typing: it spends the member's tap budget, and a
        # query over it gets no answer (Telegram shows nothing new; the next one may).
        if context.limits.tap(user.id, now) is not Verdict.ANSWER:
            raise ApplicationHandlerStop
        return
    query = update.callback_query
    if query is not None:
        verdict = context.limits.tap(user.id, now)
        if verdict is Verdict.ANSWER:
            return
        if verdict is Verdict.TELL:
            log.info("taps from user=%s over budget; answered without the store", user.id)
        # Every tap is answered (or the button spins), but this one never reaches the store.
        await query.answer(groupbuy.texts.render("tap_slow_down", await speaks(context, user)))
        raise ApplicationHandlerStop
    message = update.message  # an edited command is ignored by the handlers anyway
    if message is None or command_body(message, context.bot.username) is None:
        return
    group = in_group(message.chat)
    verdict = context.limits.command(user.id, message.chat.id if group else None, now)
    if verdict is Verdict.ANSWER:
        return
    if verdict is Verdict.TELL:
        log.info(
            "commands from user=%s chat=%s over budget; quiet for now", user.id, message.chat.id
        )
        # Privately, never in the group: a notice there would spend what the limit saves.
        # A member who never started the bot hears nothing (Telegram refuses, quietly).
        await groupbuy.notify.send_private(member_of(user), "slow_down", in_group=group)
    raise ApplicationHandlerStop
