"""Leader tools: daily summaries (asked for and scheduled), CSV exports, paid/collected marks."""

from __future__ import annotations

import logging
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import Forbidden

from bot.core import callbacks, summary
from bot.core.languages import language_for
from bot.core.models import Deal, Group, Member, OrderRow
from bot.core.summary import GroupDay
from bot.services.deals import GroupBuy

log = logging.getLogger(__name__)

# A deal's mark panel gets one row of buttons per order; past this many orders the
# keyboard would be unwieldy (and near Telegram's limits), so /paid and /collected serve.
MARK_BUTTONS_MAX = 30


class Reports:
    """Summaries, exports and marks for leaders, built on the GroupBuy service."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy

    # -- who leads what ---------------------------------------------------------------

    async def groups_led_by(self, user_id: int) -> list[Group]:
        """The groups this user leads: where they posted deals (or all, for configured
        leaders), confirmed as leader now."""
        store = self.gb.store
        if user_id in self.gb.settings.leaders:
            return await store.groups.all_groups()
        led = []
        for group in await store.groups.groups_led_by(user_id):
            if await self.gb.groups.is_leader(group.chat_id, user_id):
                led.append(group)
        return led

    async def leaders_of(self, group: Group) -> list[int]:
        """Everyone who gets the group's daily summary: its human admins, named and
        configured leaders."""
        return await self.gb.groups.leaders_of(group.chat_id)

    # -- summaries --------------------------------------------------------------------

    def today(self, group: Group) -> date:
        """The group's current local day."""
        return summary.local_today(self.gb.clock.now(), group.tz)

    async def day_of(self, group: Group, day: date) -> GroupDay:
        """Everything that formed in the group on that local day."""
        store = self.gb.store
        start, end = summary.day_bounds(day, group.tz)
        rows = await store.reports.orders_in_formed_rounds(group.chat_id, start, end)
        ended = await store.reports.rounds_closed(group.chat_id, start, end)
        deals: dict[int, Deal] = {}
        for deal_id in {deal_id for deal_id, _, _ in ended}:
            deal = await store.deals.get_deal(deal_id)
            if deal is not None:
                deals[deal_id] = deal
        rewards = await store.reports.rewards_between(group.chat_id, start, end)
        return summary.build_day(group, day, rows, ended, deals, rewards)

    async def send_summary(self, leader: Member | int, day: GroupDay) -> bool:
        """Send a group's day privately: the report, then a mark panel per deal."""
        user_id = leader if isinstance(leader, int) else leader.user_id
        lang = language_for(None if isinstance(leader, int) else leader.language_code)
        text = self.gb.texts.render("summary", lang, day=day)
        try:
            await self.gb.notify.send_text(user_id, text)
            for deal_day in day.deals:
                if deal_day.rows and len(deal_day.rows) <= MARK_BUTTONS_MAX:
                    panel, markup = self.mark_panel(deal_day.deal, deal_day.rows, lang)
                    await self.gb.bot.send_message(user_id, panel, reply_markup=markup)
        except Forbidden:
            return False
        return True

    async def send_due_summaries(self) -> None:
        """Send each group's daily summary to its leaders once its summary time has come."""
        now = self.gb.clock.now()
        for group in await self.gb.store.groups.all_groups():
            day = summary.summary_due(now, group)
            if day is None:
                continue
            if not await self.gb.store.reports.record_summary_sent(group.chat_id, day.isoformat()):
                continue
            group_day = await self.day_of(group, day)
            if group_day.empty:
                continue  # a quiet day sends nothing: no news is no message
            for user_id in await self.leaders_of(group):
                member = await self.gb.store.groups.get_member(user_id)
                sent = await self.send_summary(member or user_id, group_day)
                log.info("daily summary chat=%s leader=%s sent=%s", group.chat_id, user_id, sent)

    # -- marks ------------------------------------------------------------------------

    def mark_panel(
        self, deal: Deal, rows: list[OrderRow], lang: str
    ) -> tuple[str, InlineKeyboardMarkup]:
        """A deal's paid/collected buttons: one row per order, each showing its state and
        carrying the state a tap sets."""
        texts = self.gb.texts
        keyboard = []
        for row in rows:
            keyboard.append(
                [
                    InlineKeyboardButton(
                        texts.render("button_paid", lang, row=row),
                        callback_data=callbacks.MARKS.data(
                            callbacks.Action.PAID,
                            row.order.id,
                            callbacks.mark_target(not row.order.paid),
                        ),
                    ),
                    InlineKeyboardButton(
                        texts.render("button_collected", lang, row=row),
                        callback_data=callbacks.MARKS.data(
                            callbacks.Action.COLLECTED,
                            row.order.id,
                            callbacks.mark_target(not row.order.collected),
                        ),
                    ),
                ]
            )
        return texts.render("mark_panel", lang, deal=deal), InlineKeyboardMarkup(keyboard)

    async def order(self, order_id: int) -> OrderRow | None:
        """One order with its deal and member (callers check who may see it)."""
        return await self.gb.store.orders.get_order(order_id)

    async def order_by_code(self, code: str) -> OrderRow | None:
        """The order a collection code names, or None."""
        return await self.gb.store.orders.order_by_code(code)

    async def member_orders_in_deal(self, deal_id: int, who: str | int) -> list[OrderRow]:
        """A member's orders in a deal, the member named by user id or username."""
        return await self.gb.store.orders.member_orders_in_deal(deal_id, who)

    async def rows_of_panel(self, deal_id: int, order_ids: list[int]) -> list[OrderRow]:
        """The current state of the orders a mark panel shows."""
        rows = []
        for order_id in order_ids:
            row = await self.gb.store.orders.get_order(order_id)
            if row is not None and row.deal.id == deal_id:
                rows.append(row)
        return rows

    async def may_mark(self, user_id: int, row: OrderRow) -> bool:
        """Only a leader of the order's group marks it."""
        return await self.gb.groups.is_leader(row.deal.chat_id, user_id)

    async def mark(self, rows: list[OrderRow], mark: str, value: bool, by_user: int) -> int:
        """Set or undo a mark on these orders; how many changed."""
        changed = await self.gb.store.orders.mark_orders(
            [row.order.id for row in rows], mark, value, by_user, self.gb.clock.timestamp()
        )
        for order_id in changed:
            log.info("order %s %s=%s by=%s", order_id, mark, value, by_user)
        return len(changed)

    # -- exports ----------------------------------------------------------------------

    async def orders_of_deal(self, deal_id: int) -> list[OrderRow]:
        """Every order of a deal, whatever its status (/export of one deal)."""
        return await self.gb.store.orders.orders_of_deal(deal_id)

    async def send_export(
        self, user_id: int, rows: list[OrderRow], tz: str, name: str, lang: str
    ) -> bool:
        """Send orders as a CSV document privately; False if the user never started the bot."""
        data = summary.export_csv(rows, tz, lambda member: self.gb.texts.member_name(member, lang))
        try:
            await self.gb.bot.send_document(
                user_id,
                InputFile(data, filename=name, attach=True),
                disable_content_type_detection=True,
            )
        except Forbidden:
            return False
        return True
