"""/lang: a person chooses the language the bot writes to them in, privately."""

from __future__ import annotations

import logging

from telegram import Update

from bot.core.languages import FOLLOW_TELEGRAM, language_for, parse_language
from handlers.common import Context, in_group, member_of, reply

log = logging.getLogger(__name__)


async def lang_command(update: Update, context: Context) -> None:
    """/lang [en|zh-Hans|zh-Hant|ru|auto]: show or change one's own language; in a group,
    point to /settings lang (the group's) and to the private chat."""
    user = update.effective_user
    if user is None:
        return
    if in_group(update.effective_chat):
        await reply(update, context, "lang_private")
        return
    groupbuy = context.service
    member = member_of(user)
    word = " ".join(context.args or ())
    if not word:
        stored = await groupbuy.groups.member(user.id)
        current = await groupbuy.languages.of(member)
        chosen = stored.lang if stored else None
        await reply(update, context, "lang_usage", current=current, chosen=chosen)
        return
    if word.strip().lower() in FOLLOW_TELEGRAM:
        lang = None
    elif (lang := parse_language(word)) is None:
        await reply(update, context, "lang_bad", value=word[:40])
        return
    await groupbuy.languages.choose(member, lang)
    await groupbuy.menus.for_person(user.id, lang)
    log.info("member %s language %s", user.id, lang or "auto")
    await reply(update, context, "lang_done", chosen=lang or language_for(user.language_code))
