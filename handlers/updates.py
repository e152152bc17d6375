"""Updates that are not commands or taps: redeliveries, group migrations, the bot's own
membership. Each is handled or ignored deliberately."""

from __future__ import annotations

import logging
import re

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from handlers.common import Context, member_of

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"/([A-Za-z0-9_]+)(?:@\w+)?(?:\s|$)")
_COMMAND_TO = re.compile(r"/[A-Za-z0-9_]+(?:@(\w+))?(?:\s|$)")


# Commands that change nothing in the store: delivered twice (after a restart), one would
# only answer twice, so they are not claimed and never wait for the write lock, which
# another process (a backup, a `sqlite3` shell) may hold for seconds. Their sender is
# still remembered, in the background.
READ_ONLY_COMMANDS = frozenset(
    {"help", "deals", "orders", "summary", "export", "rewards", "top", "invite"}
)


def read_only_command(update: Update) -> bool:
    """Whether the update is a new message with a command from READ_ONLY_COMMANDS."""
    text = update.message.text if update.message else None
    command = _COMMAND.match(text or "")
    return command is not None and command.group(1).lower() in READ_ONLY_COMMANDS


def command_to_us(update: Update, bot_username: str | None) -> bool:
    """Whether the update is a new message with a command for this bot (a /deal photo's
    caption included), not one addressed to another bot."""
    message = update.message
    command = _COMMAND_TO.match((message.text or message.caption or "") if message else "")
    if command is None:
        return False
    addressed = command.group(1)
    return not addressed or addressed.lower() == (bot_username or "").lower()


async def claim(update: Update, context: Context) -> None:
    """Stop an update Telegram delivered before (taps never come here: they are claimed
    inside their own write; read-only commands are not claimed at all).

    Only the sender of a command to the bot is stored: chatter in the group, joins and
    service messages name nobody to keep (the data lifecycle in the README).
    """
    groupbuy = context.service
    user = update.effective_user
    sender = None
    if user is not None and not user.is_bot and command_to_us(update, context.bot.username):
        sender = member_of(user)
    if read_only_command(update):
        if sender is not None:
            await groupbuy.groups.remember(sender)
        return
    if not await groupbuy.first_delivery(update.update_id, sender):
        log.info("update %s delivered again; ignored", update.update_id)
        raise ApplicationHandlerStop


async def migrated(update: Update, context: Context) -> None:
    """The group became a supergroup (a new chat id): its deals follow it."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return  # the new chat's "migrated from" twin carries nothing more
    await context.service.move_group(message.chat.id, message.migrate_to_chat_id)


async def bot_membership(update: Update, context: Context) -> None:
    """The bot was added to or removed from a chat: noted in the log, nothing else.

    Removed from a group, open deals still close at their deadlines and members are
    still told privately; the group messages fail and are logged. A leader who adds
    the bot back finds everything as it was.
    """
    change = update.my_chat_member
    if change is not None:
        log.info(
            "bot membership chat=%s %s -> %s by=%s",
            change.chat.id,
            change.old_chat_member.status,
            change.new_chat_member.status,
            change.from_user.id,
        )
