"""/settings: a leader reads or changes the group's settings."""

from __future__ import annotations

import logging

from telegram import Update

from bot.errors import UserError
from bot.group_settings import canonical_key, parse_setting
from handlers.common import Context, group_of, in_group, is_leader, reply, service

log = logging.getLogger(__name__)


async def settings_command(update: Update, context: Context) -> None:
    """/settings [key value]: show the settings, or change one."""
    if not in_group(update.effective_chat):
        await reply(update, context, "group_only", command="/settings")
        return
    group = await group_of(update, context)
    if not await is_leader(update, context, group.chat_id):
        await reply(update, context, "not_leader")
        return
    args = context.args or []
    if not args:
        await reply(update, context, "settings", group=group)
        return
    key = canonical_key(args[0])
    if key is None or len(args) < 2:
        await reply(update, context, "settings_usage", group=group)
        return
    try:
        changes = parse_setting(key, " ".join(args[1:]), group)
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return
    group = await service(context).store.update_group(group.chat_id, **changes)
    log.info("settings chat=%s %s", group.chat_id, changes)
    await reply(update, context, "settings", group=group, changed=key)
