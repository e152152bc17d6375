"""The application factory: one PTB Application wired to the store, the service and handlers,
and the runtime that starts and stops it (long polling or webhook)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder, Defaults

import handlers
from bot.clock import Clock
from bot.config import Settings
from bot.context import CONTEXT_TYPES, App
from bot.delivery import TolerantBot
from bot.http import telegram_requests
from bot.limits import Limits
from bot.metrics import CountedUpdates, Metrics, StampedQueue
from bot.ops import Ops
from bot.outbound import Outbound
from bot.redact import hide_secrets_of
from bot.services.console import Console
from bot.services.deals import GroupBuy
from bot.services.paywindow import PayWindow
from bot.services.reports import Reports
from bot.texts import Texts
from bot.webapp.server import ConsoleServer
from bot.webhook import WebhookServer
from storage import open_store

log = logging.getLogger(__name__)

__all__ = ["App", "Runtime", "build_application"]


def build_application(settings: Settings, clock: Clock | None = None) -> App:
    """The bot, ready to start: handlers registered, services on `bot_data`."""
    hide_secrets_of(settings)  # before PTB logs its URL, token included
    telegram = settings.telegram
    clock = clock or Clock(settings.clock_offset)
    metrics = Metrics(clock)
    outbound = Outbound(
        flood_control=telegram.flood_control,
        messages_per_second=telegram.messages_per_second,
        group_interval=telegram.group_interval,
        card_interval=telegram.card_edit_interval,
    )
    metrics.watch(outbound)
    requests = telegram_requests(telegram, metrics=metrics)
    bot = TolerantBot(
        token=telegram.token.get_secret_value(),
        base_url=telegram.base_url,
        request=requests[0],
        get_updates_request=requests[1],
        rate_limiter=outbound,
        defaults=Defaults(parse_mode=ParseMode.HTML),
    )
    updates = StampedQueue()
    app: App = (
        ApplicationBuilder()
        .bot(bot)
        .update_queue(updates)
        .context_types(CONTEXT_TYPES)
        # Taps must not queue behind each other; the store serialises what must be.
        # Each update is counted and timed, and named in the log (bot/metrics.py).
        .concurrent_updates(CountedUpdates(metrics, updates))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )

    def spawn(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # The application's own tasks report to the error handler and are awaited by
        # stop(); before start and after stop there are none, and the service's settle()
        # awaits what it started.
        if app.running:
            return app.create_task(work)
        return asyncio.create_task(work)

    groupbuy = GroupBuy(
        settings=settings,
        store=open_store(
            str(settings.storage.path), settings.storage.url, settings.storage.schema_name
        ),
        texts=Texts(),
        clock=clock,
        bot=app.bot,
        lines=outbound.groups,
        spawn=spawn,
        metrics=metrics,
    )
    groupbuy.store.engine.observe = metrics.store_took
    outbound.sends_texts_with(groupbuy.notify.post_group_text)
    reports = Reports(groupbuy)
    groupbuy.deadlines.every_minute(groupbuy.send_owed_notices)
    groupbuy.deadlines.every_minute(reports.send_due_summaries)
    groupbuy.deadlines.every_minute(groupbuy.forget_old_deliveries)
    groupbuy.deadlines.every_minute(groupbuy.waitlist.expire_offers)
    groupbuy.deadlines.every_minute(PayWindow(groupbuy).sweep)
    app.bot_data.groupbuy = groupbuy
    app.bot_data.requests = requests
    app.bot_data.reports = reports
    app.bot_data.console = Console(groupbuy, reports)
    app.bot_data.limits = Limits(settings.limits, exempt=settings.leaders)
    handlers.register(app)
    return app


async def _post_init(app: App) -> None:
    """After the bot knows itself: open the store, close overdue deals, arm the deadlines,
    set the command menus."""
    await app.bot_data.groupbuy.store.open()
    await app.bot_data.groupbuy.start()


async def _post_stop(app: App) -> None:
    """After the last update was handled: stop the timers, send what is still waiting."""
    await app.bot_data.groupbuy.stop()


async def _post_shutdown(app: App) -> None:
    """After the bot's connections closed: close the store."""
    await app.bot_data.groupbuy.store.close()


class Runtime:
    """Starts and stops the application in the current event loop, in the order of PTB's
    `run_polling` (initialize, post_init, updates, start … stop, post_stop, shutdown,
    post_shutdown), taking updates by long polling or on the webhook server."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.service: GroupBuy = app.bot_data.groupbuy
        self.webhook: WebhookServer | None = None
        self.ops = Ops(app)
        self.console = ConsoleServer(app)

    async def start(self) -> None:
        """Answer /healthz and /readyz on `[ops] port` (if set), then start the bot and
        (if on) its console."""
        await self.ops.start()
        try:
            await self._start()
        except BaseException:
            await self.ops.stop()
            raise
        if self.console.enabled:
            try:
                await self.console.start(own_server=self.webhook is None)
            except BaseException:
                await self.stop()
                raise

    async def _start(self) -> None:
        """Check the token, open the store, close overdue deals, and take updates."""
        app = self.app
        try:
            await app.initialize()
        except BaseException:
            # Telegram unreachable or the token refused: leave no connection open behind.
            for request in app.bot_data.requests:
                await request.shutdown()
            raise
        try:
            if app.post_init is not None:
                await app.post_init(app)
        except BaseException:
            await app.shutdown()
            await _post_shutdown(app)
            raise
        telegram = self.service.settings.telegram
        if telegram.webhook.enabled:
            self.webhook = WebhookServer(app, telegram.webhook, self._mount)
            try:
                await self.webhook.start()
            except BaseException:
                await app.shutdown()
                await _post_shutdown(app)
                raise
        else:
            assert app.updater is not None
            await app.updater.start_polling(
                timeout=int(telegram.poll_timeout),
                allowed_updates=Update.ALL_TYPES,
                error_callback=_polling_error,
            )
            log.info("bot @%s is polling", app.bot.username)
        await app.start()

    def _mount(self, server: web.Application) -> None:
        """What the webhook's server answers besides updates: the operator's endpoints,
        and the console when it is on."""
        self.ops.mount(server)
        if self.console.enabled:
            self.console.mount(server)

    async def stop(self) -> None:
        """Stop taking updates, finish what is under way, send what waits, close the store."""
        app = self.app
        await self.console.stop()
        if self.webhook is not None:
            await self.webhook.stop()
        elif app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()  # lets handlers and the application's tasks finish
            if app.post_stop is not None:
                await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        await self.ops.stop()
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
