"""Pinned deal cards: where a group asks for it (`/settings pin on`), each new card is
pinned silently and unpinned when its deal ends; a bot without the right says so once."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.core.models import Deal, DealStatus, Group
from bot.services.groups import Groups
from bot.services.notify import Notifier
from bot.texts import Texts
from storage.store import Store

log = logging.getLogger(__name__)

# Telegram's words when the bot may not pin in a chat ("not enough rights to manage
# pinned messages in the chat", "not enough rights to pin a message").
NO_RIGHTS = "not enough rights"


def refused(exc: TelegramError) -> bool:
    """Whether Telegram refused a pin for want of the right (or of the chat itself)."""
    return isinstance(exc, Forbidden) or (
        isinstance(exc, BadRequest) and NO_RIGHTS in exc.message.lower()
    )


class CardPins:
    """Pins and unpins deal cards in the groups that turned `pin` on."""

    def __init__(
        self, *, store: Store, texts: Texts, bot: Bot, groups: Groups, notify: Notifier
    ) -> None:
        self.store = store
        self.texts = texts
        self.bot = bot
        self.groups = groups
        self.notify = notify

    async def pin(self, deal: Deal, message_id: int) -> None:
        """Pin a card just posted, without a notification, if its group wants cards
        pinned. Never raises: a card that cannot be pinned is still posted."""
        group = await self.store.groups.get_group(deal.chat_id)
        if group is None or not group.pin:
            return
        try:
            await self.bot.pin_chat_message(deal.chat_id, message_id, disable_notification=True)
        except TelegramError as exc:
            await self._failed(group, deal, "pin", exc)
            return
        await self.store.deals.set_pinned(deal.id)
        log.info("card pinned chat=%s deal=%s", deal.chat_id, deal.id)
        # The deal may have ended while the pin was on its way (a sell-out in the first
        # second): its unpin found nothing pinned then, so it is done now.
        now = await self.store.deals.get_deal(deal.id)
        if now is not None and now.status is not DealStatus.OPEN:
            await self.unpin(now)

    async def unpin(self, deal: Deal) -> None:
        """The deal ended: unpin its card if the bot pinned it (once, whoever asks)."""
        if deal.card_message_id is None or not await self.store.deals.take_pin(deal.id):
            return
        try:
            await self.bot.unpin_chat_message(deal.chat_id, message_id=deal.card_message_id)
        except TelegramError as exc:
            group = await self.store.groups.get_group(deal.chat_id)
            if group is not None:
                await self._failed(group, deal, "unpin", exc)
            return
        log.info("card unpinned chat=%s deal=%s", deal.chat_id, deal.id)

    async def _failed(self, group: Group, deal: Deal, what: str, exc: TelegramError) -> None:
        """A refusal is told to the group's leaders, once until `pin` is turned on again;
        any other failure is only logged."""
        log.warning("card %s failed chat=%s deal=%s: %s", what, deal.chat_id, deal.id, exc)
        if not refused(exc) or not await self.store.groups.mark_pin_warned(group.chat_id):
            return
        told = False
        for user_id in await self.groups.leaders_of(group.chat_id):
            leader = await self.store.groups.get_member(user_id)
            lang = await self.notify.languages.of(leader, group.lang) if leader else group.lang
            text = self.texts.render("pin_refused", lang, title=group.title, deal=deal, what=what)
            told = await self.notify.send_private_markup(user_id, text, None) or told
        if not told:  # no leader has a private chat with the bot: the group hears it
            await self.notify.send_group(
                group, "pin_refused", title=group.title, deal=deal, what=what
            )
