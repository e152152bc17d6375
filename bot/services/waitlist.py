"""The waitlist: members waiting for a sold-out deal or option, and the units offered to them
when some are freed or restocked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.languages import DEFAULT_LANGUAGE
from bot.core.models import Deal, JoinOutcome, Member, Offer

if TYPE_CHECKING:
    from bot.services.deals import GroupBuy


class Waitlist:
    """Waiting, offers and their expiry, on the GroupBuy service."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy

    async def wait(self, deal_id: int, option_id: int | None, member: Member) -> bool:
        """Put the member on the waitlist for a sold-out deal or option."""
        await self.gb.store.groups.save_member(member, self.gb.clock.timestamp())
        return await self.gb.store.waitlist.wait_for_unit(
            deal_id, option_id, member.user_id, self.gb.clock.timestamp()
        )

    async def take_offer(self, offer_id: int, member: Member, tap_id: str) -> JoinOutcome:
        """Turn a waitlist offer into an order."""
        found = await self.gb.store.waitlist.get_offer(offer_id)
        if found is None or found[2] != member.user_id:
            raise UserError("tap_stale")
        deal_id, option_id, _ = found
        return await self.gb.join(deal_id, member, tap_id, option_id, offer_id)

    async def expire_offers(self) -> None:
        """Offers past their time go to the next in line (run by the periodic tick)."""
        offers = await self.gb.store.waitlist.expire_offers(self.gb.clock.timestamp())
        for deal in {offer.deal.id: offer.deal for offer in offers}.values():
            self.gb.cards.refresh(deal)
        await self.send_offers(offers)

    async def restock(self, deal: Deal, units: int, option_id: int | None) -> int:
        """More stock from the leader; the waitlist hears of it first. Offers made."""
        offers = await self.gb.store.waitlist.restock(
            deal.id, units, option_id, self.gb.clock.timestamp()
        )
        self.gb.cards.refresh(deal)
        await self.send_offers(offers)
        return len(offers)

    async def send_offers(self, offers: Sequence[Offer]) -> None:
        """Tell each first in line privately, with a button that takes the held unit."""
        for offer in offers:
            member = await self.gb.store.groups.get_member(offer.user_id)
            lang = await self.gb.languages.of(member) if member else DEFAULT_LANGUAGE
            text = self.gb.texts.render(
                "waitlist_offer",
                lang,
                deal=offer.deal,
                option=offer.option,
                expires_at=offer.expires_at,
                now=self.gb.clock.timestamp(),
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.gb.texts.label("take_offer", lang),
                            callback_data=callbacks.DEAL.data(
                                callbacks.Action.TAKE, offer.waitlist_id
                            ),
                        )
                    ]
                ]
            )
            await self.gb.notify.send_private_markup(offer.user_id, text, markup)
