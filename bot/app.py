"""The application factory: one PTB Application wired to the store, the service and handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

import handlers
from bot.clock import Clock
from bot.config import Settings
from bot.delivery import FloodControl, TolerantBot
from bot.http import telegram_requests
from bot.reports import Reports
from bot.service import GroupBuy
from bot.texts import Texts
from storage import open_store

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]


def build_application(settings: Settings, clock: Clock | None = None) -> App:
    """The bot, ready to start: handlers registered, service in bot_data."""
    telegram = settings.telegram
    limiter = None
    if telegram.flood_control:
        limiter = FloodControl(
            overall_max_rate=telegram.messages_per_second,
            # One message per 60/N seconds, not bursts of N then a pause: Telegram counts
            # any 60-second window, and a burst of 20 followed by more breaks it.
            group_max_rate=1,
            group_time_period=telegram.group_interval,
            max_retries=10,  # a 429 is waited out and retried, never dropped
        )
    requests = telegram_requests(telegram)
    bot = TolerantBot(
        token=telegram.token.get_secret_value(),
        base_url=telegram.base_url,
        request=requests[0],
        get_updates_request=requests[1],
        rate_limiter=limiter,
    )
    builder = (
        ApplicationBuilder()
        .bot(bot)
        # Taps must not queue behind each other; the store serialises what must be.
        .concurrent_updates(True)
    )
    app: App = builder.build()
    clock = clock or Clock(settings.clock_offset)
    groupbuy = GroupBuy(
        settings=settings,
        store=open_store(
            str(settings.storage.path), settings.storage.url, settings.storage.schema_name
        ),
        texts=Texts(),
        clock=clock,
        bot=app.bot,
    )
    reports = Reports(groupbuy)
    groupbuy.deadlines.every_minute(reports.send_due_summaries)
    groupbuy.deadlines.every_minute(groupbuy.forget_old_deliveries)
    groupbuy.deadlines.every_minute(groupbuy.expire_offers)
    app.bot_data["service"] = groupbuy
    app.bot_data["requests"] = requests
    app.bot_data["reports"] = reports
    handlers.register(app)
    return app


class Runtime:
    """Starts and stops the bot in the current event loop (long polling)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.service: GroupBuy = app.bot_data["service"]

    async def start(self) -> None:
        """Open the store, check the token, close overdue deals, and start polling."""
        await self.service.store.open()
        try:
            await self.app.initialize()
        except BaseException:
            # Telegram unreachable or the token refused: leave no connection open behind.
            for request in self.app.bot_data["requests"]:
                await request.shutdown()
            await self.service.store.close()
            raise
        await self.app.start()
        await self.service.start()
        assert self.app.updater is not None
        telegram = self.service.settings.telegram
        webhook = telegram.webhook
        if webhook.enabled:
            secret = webhook.secret_token.get_secret_value() if webhook.secret_token else None
            await self.app.updater.start_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.path,
                webhook_url=webhook.url or None,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
            )
            log.info(
                "bot @%s takes updates at http://%s:%s/%s",
                self.app.bot.username,
                webhook.listen,
                webhook.port,
                webhook.path,
            )
        else:
            await self.app.updater.start_polling(
                timeout=int(telegram.poll_timeout),
                allowed_updates=Update.ALL_TYPES,
                error_callback=_polling_error,
            )
            log.info("bot @%s is polling", self.app.bot.username)

    async def stop(self) -> None:
        """Stop taking updates, finish what is under way, close the store."""
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()  # lets handlers already running finish
        await self.service.stop()
        await self.app.shutdown()
        await self.service.store.close()
        log.info("bot stopped")

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def _polling_error(error: TelegramError) -> None:
    # PTB retries getUpdates itself; one line per failure keeps the log readable.
    log.warning("polling failed, retrying: %s", error)
