"""The command menus Telegram shows under "/": per scope (group members, group leaders,
private chats) and language, from the commands layout."""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
)
from telegram.error import TelegramError

from bot.core.languages import MENU_CODES
from bot.texts import Texts

log = logging.getLogger(__name__)


class Menus:
    """Sets the command menus: everyone's at start, one chat's when its language changes."""

    def __init__(self, *, bot: Bot, texts: Texts) -> None:
        self.bot = bot
        self.texts = texts

    async def register(self) -> None:
        """Every scope in every language Telegram can key a menu by (a two-letter code)."""
        scopes = (
            ("group_member", BotCommandScopeAllGroupChats()),
            ("group_leader", BotCommandScopeAllChatAdministrators()),
            ("private", BotCommandScopeAllPrivateChats()),
        )
        for lang, code in MENU_CODES.items():
            for name, scope in scopes:
                await self._set(name, scope, lang, code)

    async def for_group(self, chat_id: int, lang: str) -> None:
        """A group's menus in its language (/settings lang), as its messages are."""
        await self._set("group_member", BotCommandScopeChat(chat_id), lang)
        await self._set("group_leader", BotCommandScopeChatAdministrators(chat_id), lang)

    async def for_person(self, user_id: int, lang: str | None) -> None:
        """A person's private menu in the language they chose (/lang); None: Telegram's
        again. The only way 繁體 readers get theirs: Telegram has no two-letter code for it."""
        scope = BotCommandScopeChat(user_id)
        if lang is not None:
            await self._set("private", scope, lang)
            return
        try:
            await self.bot.delete_my_commands(scope=scope)
        except TelegramError as exc:
            log.warning("command menu not reset for a person: %s", exc)

    async def _set(
        self, name: str, scope: BotCommandScope, lang: str, code: str | None = None
    ) -> None:
        menu = getattr(self.texts.catalogue("commands", lang), name)
        commands = [BotCommand(command, about) for command, about in menu]
        try:
            await self.bot.set_my_commands(commands, scope=scope, language_code=code)
        except TelegramError as exc:
            log.warning("command menu not set scope=%s lang=%s: %s", name, lang, exc)
