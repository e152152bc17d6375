"""Inline mode: `@bot` in any chat (or a card's Share button) lists the deals a member may
share; a card sent that way is kept current, and its sender is remembered as its sharer."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest

from handlers.common import Context, member_of

log = logging.getLogger(__name__)

# Seconds Telegram may show a member the same list again: short, as the cards change.
CACHE_SECONDS = 10


async def inline_query(update: Update, context: Context) -> None:
    """`@bot [query]`: the member's open deals, or the deal a Share button names."""
    query = update.inline_query
    if query is None:
        return
    shared = context.service.shared
    results, next_offset = await shared.results(query.from_user.id, query.query, query.offset)
    try:
        await query.answer(
            results, cache_time=CACHE_SECONDS, is_personal=True, next_offset=next_offset or None
        )
    except BadRequest as exc:  # the member typed on: this query is no longer wanted
        log.info("inline answer refused query=%s: %s", query.id, exc)


async def chosen_result(update: Update, context: Context) -> None:
    """A member sent a deal's card into a chat (Telegram tells only with @BotFather's
    /setinlinefeedback): keep that copy current and note them as its sharer."""
    chosen = update.chosen_inline_result
    if chosen is None:
        return
    groupbuy = context.service
    await groupbuy.groups.save(member_of(chosen.from_user))
    await groupbuy.shared.chosen(chosen.inline_message_id, chosen.result_id, chosen.from_user.id)
