"""What every handler needs: the service, the member, the language, and replying."""

from __future__ import annotations

import re
from typing import Any

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType

from bot.context import BotContext
from bot.core.languages import DEFAULT_LANGUAGE
from bot.core.models import Group, Member
from bot.texts import split_message

Context = BotContext

_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?")


def member_of(user: User) -> Member:
    """The store's view of a Telegram user."""
    return Member(
        user_id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name or "",
        username=user.username,
        language_code=user.language_code,
    )


def in_group(chat: Chat | None) -> bool:
    """Whether the chat is a group or supergroup."""
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def _command(message: Message, bot_username: str | None) -> re.Match[str] | None:
    """The command token the message starts with; None if none, or if it names another bot."""
    match = _COMMAND.match(message.text or message.caption or "")
    if match is None:
        return None
    addressed = match.group(1)
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    return match


def command_body(message: Message, bot_username: str | None) -> str | None:
    """Everything after the command token, newlines kept; None if it names another bot."""
    match = _command(message, bot_username)
    return None if match is None else match.string[match.end() :]


def command_name(message: Message, bot_username: str | None) -> str | None:
    """The command as its usage names it (`/deal`, however it was typed); None if it names
    another bot."""
    match = _command(message, bot_username)
    return None if match is None else match.group(0).split("@")[0].lower()


async def speaks(context: Context, user: User | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """The language to write to `user` in privately or on a button answer: their own
    (/lang), else their Telegram's, else `fallback`."""
    if user is None:
        return fallback
    return await context.service.languages.of(member_of(user), fallback)


async def language(update: Update, context: Context) -> str:
    """The group's language in a group; the user's own in a private chat."""
    chat = update.effective_chat
    if in_group(chat):
        assert chat is not None
        group = await context.service.groups.known(chat.id)
        if group is not None:
            return group.lang
    user = update.effective_user
    return await speaks(context, user)


async def reply(update: Update, context: Context, template: str, /, **values: Any) -> None:
    """Answer the update's message with a rendered template (HTML), in the chat's language."""
    await reply_in(await language(update, context), update, context, template, **values)


async def reply_in(
    lang: str, update: Update, context: Context, template: str, /, **values: Any
) -> None:
    """Answer the update's message with a rendered template in `lang`."""
    message = update.effective_message
    if message is None:
        return
    groupbuy = context.service
    text = groupbuy.texts.render(template, lang, now=groupbuy.clock.timestamp(), **values)
    for chunk in split_message(text):  # a list may outgrow one message
        await message.reply_text(chunk, do_quote=in_group(message.chat))


async def group_of(update: Update, context: Context) -> Group:
    """The settings of the group the update came from."""
    chat = update.effective_chat
    assert chat is not None
    return await context.service.groups.group(chat.id, chat.title)


# Telegram's stand-in sender for an administrator who posts anonymously, as the group.
ANONYMOUS_ADMIN_ID = 1087968824
ANONYMOUS_ADMIN_USERNAME = "GroupAnonymousBot"


def from_anonymous_admin(message: Message, chat_id: int) -> bool:
    """Whether Telegram sent the message for an anonymous admin of this very group: then,
    and only then, `sender_chat` is the group (a linked channel or a forged update is not)."""
    sender = message.from_user
    return (
        sender is not None
        and sender.id == ANONYMOUS_ADMIN_ID
        and sender.username == ANONYMOUS_ADMIN_USERNAME
        and message.sender_chat is not None
        and message.sender_chat.id == chat_id
        and message.chat.id == chat_id
    )


async def is_leader(update: Update, context: Context, chat_id: int) -> bool:
    """Whether the sender leads the group: an anonymous admin posting as the group does."""
    message = update.effective_message
    if message is not None and from_anonymous_admin(message, chat_id):
        return True
    user = update.effective_user
    return user is not None and await context.service.groups.is_leader(chat_id, user.id)


async def told_privately(update: Update, context: Context, delivered: bool) -> None:
    """In a group, say the answer went privately, or how to let it."""
    if not in_group(update.effective_chat):
        return
    if delivered:
        await reply(update, context, "sent_privately")
        return
    await ask_to_start(update, context)


async def ask_to_start(update: Update, context: Context, payload: str | None = None) -> None:
    """Ask the user to open a private chat with the bot, with a button that does it."""
    message = update.effective_message
    if message is None:
        return
    groupbuy = context.service
    lang = await speaks(context, update.effective_user)
    button = InlineKeyboardButton(
        groupbuy.texts.label("open_chat", lang),
        url=f"https://t.me/{context.bot.username}" + (f"?start={payload}" if payload else ""),
    )
    await message.reply_text(
        groupbuy.texts.render("open_private_chat", lang),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


_USERNAME = re.compile(r"@?[A-Za-z0-9_]{1,32}")


def member_named(text: str) -> int | str | None:
    """A member as typed: a user id (digits), a username (`@ann` or `ann`), or None."""
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 15 else None  # beyond any Telegram user id
    return text.lstrip("@") if _USERNAME.fullmatch(text) else None


def number(text: str) -> int | None:
    """A deal or order number as typed (`12` or `#12`), or None."""
    text = text.removeprefix("#")
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 12 else None
