"""/orders: a member's own orders, always answered privately."""

from __future__ import annotations

import logging

from telegram import Update

from handlers.common import Context, ask_to_start, in_group, member_of, reply

log = logging.getLogger(__name__)


async def orders_command(update: Update, context: Context) -> None:
    """/orders: my orders across groups, sent privately."""
    user = update.effective_user
    if user is None:
        return
    groupbuy = context.service
    rows = await groupbuy.orders_of(user.id)
    delivered = await groupbuy.notify.send_private(member_of(user), "orders", rows=rows)
    if in_group(update.effective_chat):
        if delivered:
            await reply(update, context, "sent_privately")
        else:
            await ask_to_start(update, context, "orders")
    elif not delivered:
        log.warning("could not answer /orders privately user=%s", user.id)
