"""Payments: a member's "I've paid", the leader's Received / Not received, and reminders
to members with unpaid orders."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import Forbidden, TelegramError

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.languages import DEFAULT_LANGUAGE
from bot.core.models import ANONYMOUS_SENDERS, Deal, DealStatus, Member, OrderRow, OrderStatus

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
        lang = await self.gb.languages.of(leader) if leader else DEFAULT_LANGUAGE
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
        if accept and row.order.status is OrderStatus.CANCELLED:  # paid, but since cancelled
            settled = await self.gb.store.orders.get_order(order_id)
            await self.tell_refunds(row.deal, [settled or row])
            return row
        await self.gb.notify.send_private(
            row.member, "payment_confirmed" if accept else "payment_rejected", row=row
        )
        return row

    # -- Telegram Payments ------------------------------------------------------------

    async def send_invoice(self, order_id: int, lang: str) -> bool:
        """The confirmed order's invoice, privately (sendInvoice); False if not sent."""
        token = self.gb.settings.payments.provider_token
        row = await self.gb.store.orders.get_order(order_id)
        if token is None or row is None:
            return False
        deal, order = row.deal, row.order
        label = f"{row.option or deal.title} × {order.quantity}"
        description = self.gb.texts.render("tap_invoice_description", lang, row=row)
        try:
            await self.gb.bot.send_invoice(
                chat_id=row.member.user_id,
                title=deal.title[:32],
                description=description[:255],
                payload=self.gb.links.invoice(order.id),
                provider_token=token.get_secret_value(),
                currency=deal.currency,
                # Minor units as Telegram counts them: the store's (bot.core.currency).
                prices=[LabeledPrice(label[:64], order.amount)],
            )
        except Forbidden:
            log.debug("member %s has not started the bot; no invoice", row.member.user_id)
            return False
        except TelegramError as exc:
            log.warning("invoice failed order=%s: %s", order.id, exc)
            return False
        return True

    async def check_out(self, payload: str, currency: str, total: int, user_id: int) -> str | None:
        """Pre-checkout: None if the order may be paid now, else the refusal's template."""
        order_id = self.gb.links.invoice_order(payload)
        row = None if order_id is None else await self.gb.store.orders.get_order(order_id)
        if row is None or row.member.user_id != user_id:
            return "tap_checkout_unknown"
        if row.order.paid:
            return "tap_checkout_paid"
        if row.order.cancel_reason == "unpaid":
            return "tap_order_released"  # its payment window ended
        if row.order.status is not OrderStatus.CONFIRMED or row.deal.status is DealStatus.CANCELLED:
            return "tap_checkout_cancelled"
        if currency != row.deal.currency or total != row.order.amount:
            return "tap_checkout_amount"
        return None

    async def invoice_paid(
        self, payload: str, telegram_charge: str, provider_charge: str, user_id: int
    ) -> OrderRow | None:
        """successful_payment: mark the order paid once; the order if this was the first."""
        order_id = self.gb.links.invoice_order(payload)
        if order_id is None:
            log.warning("payment with an unknown payload from user=%s", user_id)
            return None
        if not await self.gb.store.orders.record_invoice_payment(
            order_id, telegram_charge, provider_charge, self.gb.clock.timestamp()
        ):
            log.info("payment for order=%s recorded already", order_id)
            return None
        row = await self.gb.store.orders.get_order(order_id)
        log.info("order=%s paid by invoice", order_id)
        return row

    # -- refunds ----------------------------------------------------------------------

    async def refunds_owed(self, chat_id: int) -> list[OrderRow]:
        """The group's paid orders since cancelled, not yet refunded (/refunds)."""
        return await self.gb.store.orders.refunds_owed(chat_id)

    async def tell_refunds(self, deal: Deal, rows: list[OrderRow] | None = None) -> None:
        """Paid orders now cancelled (all the deal's, or those given): each member hears
        their money is owed back, and the deal's leader what to refund (Telegram has no
        refund call for provider payments: the leader pays it back and marks it under
        /refunds). A deal posted anonymously has its group's leaders told instead."""
        rows = rows if rows is not None else await self.gb.store.orders.refunds_of_deal(deal.id)
        if not rows:
            return
        group = await self.gb.notify.group_of(deal)
        for row in rows:
            await self.gb.notify.send_private(row.member, "refund_due", row=row, group=group)
        leaders = [deal.leader_id]
        if deal.leader_id in ANONYMOUS_SENDERS:
            leaders = await self.gb.groups.leaders_of(deal.chat_id)
        for user_id in leaders:
            leader = await self.gb.store.groups.get_member(user_id) or Member(user_id, "")
            await self.gb.notify.send_private(
                leader, "refunds_to_make", deal=deal, rows=rows, group=group
            )
        log.info("refunds due deal=%s orders=%s", deal.id, len(rows))

    async def mark_refunded(self, order_id: int, leader_id: int) -> OrderRow:
        """A leader paid an owed order back: recorded once; UserError if it was not owed,
        already refunded, or the tapper does not lead the order's group."""
        row = await self.gb.store.orders.get_order(order_id)
        if row is None or row.order.refund_due_at is None:
            raise UserError("tap_stale")
        if not await self.gb.groups.is_leader(row.deal.chat_id, leader_id):
            raise UserError("tap_not_leader")
        now = self.gb.clock.timestamp()
        if not await self.gb.store.orders.mark_refunded(order_id, leader_id, now):
            raise UserError("tap_refunded_already")
        log.info("order refunded order=%s by=%s", order_id, leader_id)
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
