"""Groups and the people in them: settings, who leads, members by name, and forgetting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.clock import Clock
from bot.config import Settings
from bot.core.errors import UserError
from bot.core.models import Group, Member, PickupPoint
from bot.services.menus import Menus
from storage.store import Store

log = logging.getLogger(__name__)


class Groups:
    """A group's settings and leaders, and the members the bot knows."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        bot: Bot,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        menus: Menus,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.bot = bot
        self._spawn = spawn
        self.menus = menus

    # -- groups and their settings ----------------------------------------------------

    async def group(self, chat_id: int, title: str | None) -> Group:
        """The group's settings, created with the operator's defaults on first sight."""
        return await self.store.groups.ensure_group(
            chat_id,
            title or "",
            tz=self.settings.timezone,
            currency=self.settings.currency,
            lang="en",
            now=self.clock.timestamp(),
        )

    async def known(self, chat_id: int) -> Group | None:
        """The group's settings if the bot has seen it, else None (nothing is created)."""
        return await self.store.groups.get_group(chat_id)

    async def change(self, chat_id: int, **settings: Any) -> Group:
        """Change settings already checked (bot.core.settings); a UserError if refused."""
        if settings.get("pay") == "invoice" and self.settings.payments.provider_token is None:
            raise UserError("settings_pay_no_provider")
        if "pay_within" in settings:  # orders confirmed before get a whole window from now
            settings["pay_within_at"] = self.clock.timestamp()
        group = await self.store.groups.update_group(chat_id, **settings)
        if "lang" in settings:
            self._spawn(self.menus.for_group(chat_id, group.lang))
        return group

    async def set_pickup_points(self, chat_id: int, names: list[str]) -> list[PickupPoint]:
        """The group's pickup points from now on."""
        return await self.store.groups.set_pickup_points(chat_id, names)

    async def leaders_and_pickups(self, chat_id: int) -> tuple[list[Member], list[PickupPoint]]:
        """What /settings shows beside the settings: the named leaders and pickup points."""
        leaders = await self.store.groups.group_leaders(chat_id)
        return leaders, await self.store.groups.pickup_points(chat_id)

    async def name_leader(self, chat_id: int, member: Member, adding: bool, by_user: int) -> bool:
        """Name a member leader of the group (or no longer); whether anything changed."""
        return await self.store.groups.set_group_leader(
            chat_id, member, adding, by_user, self.clock.timestamp()
        )

    # -- who leads, who is in ---------------------------------------------------------

    async def is_leader(self, chat_id: int, user_id: int) -> bool:
        """Configured leaders, the group's administrators and its named leaders lead it."""
        if user_id in self.settings.leaders:
            return True
        if await self.store.groups.is_group_leader(chat_id, user_id):
            return True
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("leader check failed chat=%s user=%s: %s", chat_id, user_id, exc)
            return False
        return member.status in ("creator", "administrator")

    async def in_group_now(self, chat_id: int, user_id: int) -> bool:
        """Whether Telegram says the user is in the group; False when it cannot tell."""
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("membership check failed chat=%s user=%s: %s", chat_id, user_id, exc)
            return False
        return member.status in ("creator", "administrator", "member", "restricted")

    async def leaders_of(self, chat_id: int) -> list[int]:
        """Everyone who leads the group in person: configured leaders, its human
        administrators and the leaders it named."""
        ids = list(self.settings.leaders)
        try:
            admins = await self.bot.get_chat_administrators(chat_id)
        except TelegramError as exc:
            log.warning("cannot list admins chat=%s: %s", chat_id, exc)
            admins = ()
        ids += [admin.user.id for admin in admins if not admin.user.is_bot]
        ids += [member.user_id for member in await self.store.groups.group_leaders(chat_id)]
        return list(dict.fromkeys(ids))

    # -- members ----------------------------------------------------------------------

    async def find_member(self, who: str) -> Member | None:
        """A member named by @username or user id."""
        text = who.strip()
        if text.isascii() and text.isdigit():
            # Longer than any Telegram user id: nobody (and past a 64-bit column).
            return await self.store.groups.get_member(int(text)) if len(text) <= 15 else None
        return await self.store.groups.member_by_username(text.lstrip("@"))

    async def member(self, user_id: int) -> Member | None:
        """The member as last stored, or None."""
        return await self.store.groups.get_member(user_id)

    async def save(self, member: Member) -> None:
        """Store the member's name and language now (they asked the bot something)."""
        await self.store.groups.save_member(member, self.clock.timestamp())

    async def remember(self, member: Member) -> None:
        """Save a member's name and language when new or changed, in the background: the
        update that showed them is answered without waiting for the write lock."""
        if await self.store.groups.get_member(member.user_id) != member:
            self._spawn(self.store.groups.save_member(member, self.clock.timestamp()))

    async def forget(self, user_id: int) -> bool:
        """Erase what the bot keeps of a member (/forgetme); whether there was anything."""
        return await self.store.groups.forget_member(user_id, self.clock.timestamp())
