"""The payment window at work: run by the scheduler's periodic sweep, it reminds each member
of an unpaid order once before its window ends, and releases the orders whose window has
ended (the waitlist is offered their units first, the member is told)."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core import callbacks
from bot.core.paywindow import Awaiting, Step
from bot.services.deals import GroupBuy

log = logging.getLogger(__name__)


class PayWindow:
    """Reminders and releases of unpaid orders, on the GroupBuy service.

    Everything is read from the store at each sweep (when each order was confirmed, the
    group's window, whether it was reminded), so a restart loses nothing; the store's
    conditional writes make each reminder and release happen once across workers.
    """

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy

    async def sweep(self) -> None:
        """Release the orders whose window has ended, then remind those whose time came."""
        now = self.gb.clock.timestamp()
        due: dict[int, list[int]] = {}
        reminders: list[Awaiting] = []
        for waiting in await self.gb.store.paywindow.awaiting():
            step = waiting.step(now)
            if step is Step.RELEASE:
                due.setdefault(waiting.deal_id, []).append(waiting.order_id)
            elif step is Step.REMIND:
                reminders.append(waiting)
        for deal_id, order_ids in due.items():
            try:
                await self.release(deal_id, order_ids, now)
            except Exception:
                log.exception("releasing unpaid orders failed deal=%s", deal_id)
        for waiting in reminders:
            try:
                await self.remind(waiting, now)
            except Exception:
                log.exception("payment reminder failed order=%s", waiting.order_id)

    async def release(self, deal_id: int, order_ids: list[int], now: int) -> None:
        """Release the deal's orders still unpaid at the end of their window: the units
        go to the waitlist first, each member is told privately."""
        released = await self.gb.store.paywindow.release(deal_id, order_ids, now)
        if released is None or not released.rows:
            return
        log.info(
            "unpaid orders released deal=%s orders=%s offers=%s",
            deal_id,
            [row.order.id for row in released.rows],
            len(released.offers),
        )
        self.gb.cards.refresh(released.deal)
        await self.gb.waitlist.send_offers(released.offers)
        group = await self.gb.notify.group_of(released.deal)
        for row in released.rows:
            await self.gb.notify.send_private(row.member, "order_released", group=group, row=row)

    async def remind(self, waiting: Awaiting, now: int) -> None:
        """The one reminder: the member's amount and the time left, privately; "I've
        paid" under it (or, where the group takes invoices, a word about the invoice)."""
        if not await self.gb.store.paywindow.mark_reminded(waiting.order_id, now):
            return  # reminded already (another worker), or paid or claimed meanwhile
        row = await self.gb.store.orders.get_order(waiting.order_id)
        group = await self.gb.store.groups.get_group(waiting.chat_id)
        if row is None or group is None:
            return
        lang = await self.gb.languages.of(row.member, group.lang)
        text = self.gb.texts.render(
            "pay_reminder",
            lang,
            row=row,
            group=group,
            due_at=waiting.due_at,
            left=-((now - waiting.due_at) // 60) * 60,  # in whole minutes, rounded up
        )
        markup = None
        if group.pay != "invoice":
            data = callbacks.PAYMENTS.data(callbacks.Action.I_PAID, row.order.id)
            button = InlineKeyboardButton(self.gb.texts.label("i_paid", lang), callback_data=data)
            markup = InlineKeyboardMarkup([[button]])
        sent = await self.gb.notify.send_private_markup(row.member.user_id, text, markup)
        log.info("payment reminder order=%s sent=%s", row.order.id, sent)
