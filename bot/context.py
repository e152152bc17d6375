"""What every handler gets: PTB's callback context, typed, with the bot's services on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot
from telegram.request import BaseRequest

from bot.delivery import TolerantBot

if TYPE_CHECKING:
    from bot.limits import Limits
    from bot.services.console import Console
    from bot.services.deals import GroupBuy
    from bot.services.reports import Reports


class Services:
    """The application's services (PTB's `bot_data`, as a class instead of a dict)."""

    groupbuy: GroupBuy
    reports: Reports
    limits: Limits
    console: Console
    requests: tuple[BaseRequest, BaseRequest]  # the bot's, and its getUpdates one


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], Services]):
    """The callback context handlers receive: `context.service`, `context.reports`."""

    @property
    def service(self) -> GroupBuy:
        """The group-buy service: deals, taps, rounds, and who hears what."""
        return self.bot_data.groupbuy

    @property
    def reports(self) -> Reports:
        """Summaries, exports and marks for leaders."""
        return self.bot_data.reports

    @property
    def limits(self) -> Limits:
        """How much each member and each group may still ask for now."""
        return self.bot_data.limits


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=Services)

App = Application[TolerantBot, BotContext, dict[Any, Any], dict[Any, Any], Services, Any]
