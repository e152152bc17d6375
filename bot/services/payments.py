"""Payments: a member's "I've paid", the leader's Received / Not received, and reminders
to members with unpaid orders."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.languages import language_for
from bot.core.models import ANONYMOUS_SENDERS, Member, OrderRow

if TYPE_CHECKING:
    from bot.services.deals import GroupBuy

log = logging.getLogger(__name__)


class Payments:
    """Payment claims and reminders, on the GroupBuy service."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy

    async def claim_paid(self, order_id: int, member: Member) -> OrderRow:
        """The member says they paid; the deal's leader (for an anonymous admin's deal, the
        group's leaders) is asked to confirm."""
        row = await self.gb.store.orders.claim_paid(
            order_id, member.user_id, self.gb.clock.timestamp()
        )
        if row.deal.leader_id in ANONYMOUS_SENDERS:
            asked = await self.gb.groups.leaders_of(row.deal.chat_id)
        else:
            asked = [row.deal.leader_id]
        for user_id in asked:
            await self._ask_to_confirm(user_id, row)
        return row

    async def _ask_to_confirm(self, user_id: int, row: OrderRow) -> None:
        leader = await self.gb.store.groups.get_member(user_id)
        lang = language_for(leader.language_code if leader else None)
        order_id = row.order.id
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        self.gb.texts.label("confirm_payment", lang),
                        callback_data=callbacks.PAYMENTS.data(callbacks.Action.PAY_OK, order_id),
                    ),
                    InlineKeyboardButton(
                        self.gb.texts.label("reject_payment", lang),
                        callback_data=callbacks.PAYMENTS.data(callbacks.Action.PAY_NO, order_id),
                    ),
                ]
            ]
        )
        text = self.gb.texts.render("payment_claimed", lang, row=row)
        await self.gb.notify.send_private_markup(user_id, text, markup)

    async def settle_claim(self, order_id: int, accept: bool, leader_id: int) -> OrderRow:
        """The leader confirms or rejects a payment claim; the member is told."""
        row = await self.gb.store.orders.get_order(order_id)
        if row is None:
            raise UserError("tap_stale")
        if not await self.gb.groups.is_leader(row.deal.chat_id, leader_id):
            raise UserError("tap_not_leader")
        if not await self.gb.store.orders.settle_claim(
            order_id, accept, leader_id, self.gb.clock.timestamp()
        ):
            raise UserError("tap_claim_settled")
        await self.gb.notify.send_private(
            row.member, "payment_confirmed" if accept else "payment_rejected", row=row
        )
        return row

    async def unpaid(self, chat_id: int) -> list[OrderRow]:
        """The group's confirmed orders not marked paid, member by member (/unpaid)."""
        return await self.gb.store.orders.unpaid_orders(chat_id)

    async def remind_unpaid(self, chat_id: int) -> tuple[int, int]:
        """Remind each member with unpaid orders privately, once a day: (sent, skipped)."""
        group = await self.gb.store.groups.get_group(chat_id)
        if group is None:
            raise UserError("tap_stale")
        day = self.gb.clock.now().astimezone(ZoneInfo(group.tz)).date().isoformat()
        by_member: dict[int, list[OrderRow]] = {}
        for row in await self.unpaid(chat_id):
            by_member.setdefault(row.member.user_id, []).append(row)
        sent = skipped = 0
        for user_id, rows in by_member.items():
            first = await self.gb.store.orders.record_payment_reminder(
                chat_id, user_id, day, self.gb.clock.timestamp()
            )
            if first and await self.gb.notify.send_private(
                rows[0].member, "payment_reminder", rows=rows
            ):
                sent += 1
            else:
                skipped += 1
        log.info("payment reminders chat=%s sent=%s skipped=%s", chat_id, sent, skipped)
        return sent, skipped
