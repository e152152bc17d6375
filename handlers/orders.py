"""/orders: a member's own orders, always answered privately."""

from __future__ import annotations

import logging

from telegram import Update

from bot.services.console import console_button
from handlers.common import Context, ask_to_start, in_group, reply, speaks

log = logging.getLogger(__name__)


async def orders_command(update: Update, context: Context) -> None:
    """/orders: my orders across groups, sent privately; a leader's with the console's
    button."""
    user = update.effective_user
    if user is None:
        return
    groupbuy = context.service
    rows = await groupbuy.orders_of(user.id)
    lang = await speaks(context, user)
    # A leader gets the console's button under the list (when the console is on).
    leads = groupbuy.settings.webapp.enabled and await context.reports.groups_led_by(user.id)
    markup = console_button(groupbuy, lang) if leads else None
    text = groupbuy.texts.render("orders", lang, rows=rows, now=groupbuy.clock.timestamp())
    delivered = await groupbuy.notify.send_private_markup(user.id, text, markup)
    if in_group(update.effective_chat):
        if delivered:
            await reply(update, context, "sent_privately")
        else:
            await ask_to_start(update, context, "orders")
    elif not delivered:
        log.warning("could not answer /orders privately user=%s", user.id)
