"""The leader's console (bot/webapp/) at work: what its pages show, on the same services
the commands use, so that a mark set in the console is the mark /summary shows."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError

from bot.core import summary
from bot.core.chart import DayTotals, day_totals, last_days
from bot.core.models import Deal, DealStatus, Group, OrderRow
from bot.core.summary import GroupDay

if TYPE_CHECKING:  # Reports puts the console's button under summaries: no import cycle
    from bot.services.deals import GroupBuy
    from bot.services.reports import Reports

log = logging.getLogger(__name__)

CHART_DAYS = 30


def console_button(groupbuy: GroupBuy, lang: str) -> InlineKeyboardMarkup | None:
    """The button that opens the console, for a private message (web_app buttons work in
    private chats only); None while the console is off."""
    settings = groupbuy.settings.webapp
    if not settings.enabled:
        return None
    label = groupbuy.texts.label("console", lang)
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, web_app=WebAppInfo(settings.url))]])


class Console:
    """Reads for the console's views; its writes go through Reports, Payments and GroupBuy
    as the commands' do (the web handlers call those directly)."""

    def __init__(self, groupbuy: GroupBuy, reports: Reports) -> None:
        self.gb = groupbuy
        self.reports = reports
        self.settings = groupbuy.settings.webapp

    # -- opening it -------------------------------------------------------------------

    async def set_menu_button(self) -> None:
        """Make the bot's menu button in every private chat open the console. A refusal is
        logged, not fatal: the buttons under /summary and /orders still open it."""
        label = self.gb.texts.label("console", "en")
        button = MenuButtonWebApp(label, WebAppInfo(self.settings.url))
        try:
            await self.gb.bot.set_chat_menu_button(menu_button=button)
        except TelegramError as exc:
            log.warning("the console's menu button was not set: %s", exc)

    # -- who leads what ---------------------------------------------------------------

    async def groups_led_by(self, user_id: int) -> list[Group]:
        """The groups the user leads now (administrators, named and configured leaders)."""
        return await self.reports.groups_led_by(user_id)

    async def led_group(self, user_id: int, chat_id: int) -> Group | None:
        """The group if the user leads it now; None for any other (or unknown) group."""
        group = await self.gb.groups.known(chat_id)
        if group is None or not await self.gb.groups.is_leader(chat_id, user_id):
            return None
        return group

    async def led_deal(self, user_id: int, deal_id: int) -> tuple[Group, Deal] | None:
        """The deal and its group if the user leads that group now; else None."""
        deal = await self.gb.deal(deal_id)
        group = None if deal is None else await self.led_group(user_id, deal.chat_id)
        return None if deal is None or group is None else (group, deal)

    # -- what the views show ----------------------------------------------------------

    async def deals_of(self, group: Group) -> list[Deal]:
        """The group's open deals, then its last ones ended (as /deals past lists them)."""
        past = await self.gb.past_deals(group.chat_id)
        opened = await self.gb.open_deals(group.chat_id)
        ended = [deal for deal in past if deal.status is not DealStatus.OPEN]
        return opened + ended

    async def rounds_of(self, deal: Deal) -> list[tuple[int, list[OrderRow]]]:
        """The deal's orders, round by round (round number, orders), newest round first."""
        rounds: dict[int, list[OrderRow]] = {}
        for row in await self.reports.orders_of_deal(deal.id):
            rounds.setdefault(row.round_number, []).append(row)
        return sorted(rounds.items(), reverse=True)

    async def day_of(self, group: Group, day: date | None) -> GroupDay:
        """A local day of the group (today if None): its orders, pickup list by point."""
        return await self.reports.day_of(group, day or self.reports.today(group))

    async def chart(self, group: Group) -> list[DayTotals]:
        """The last CHART_DAYS local days of the group: orders, units and revenue of the
        rounds formed each day (a day as /summary counts it)."""
        days = last_days(self.reports.today(group), CHART_DAYS)
        start, _ = summary.day_bounds(days[0], group.tz)
        _, end = summary.day_bounds(days[-1], group.tz)
        orders = await self.gb.store.reports.formed_orders_between(group.chat_id, start, end)
        return day_totals(days, group.tz, orders)
