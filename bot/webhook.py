"""Webhook mode: Telegram posts updates to an aiohttp server in the bot's own process.

PTB's documented way for a custom webhook server: check the secret, turn the JSON into an
`Update` and put it on the application's update queue. Ours, rather than PTB's tornado
one, so that a webhook worker reads updates exactly as polling does (`trim_update`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from telegram import Update

from bot.config import WebhookSettings
from bot.http import trim_update
from bot.ops import serve

if TYPE_CHECKING:
    from bot.context import App

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """Takes Telegram's POSTs on `listen:port/path` and tells Telegram where that is."""

    def __init__(
        self,
        app: App,
        settings: WebhookSettings,
        mount: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.app = app
        self.mount = mount  # adds more routes (the operator's: bot/ops.py)
        self.settings = settings
        secret = settings.secret_token
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        self._runner: web.AppRunner | None = None

    def _routes(self, server: web.Application) -> None:
        server.router.add_post(f"/{self.settings.path.strip('/')}", self.receive)
        if self.mount is not None:
            self.mount(server)

    async def start(self) -> None:
        """Listen, then register the webhook with Telegram."""
        self._runner = await serve(
            self._routes, self.settings.listen, self.settings.port, "telegram.webhook.port"
        )
        secret = self.settings.secret_token
        await self.app.bot.set_webhook(
            url=self.settings.url,
            secret_token=secret.get_secret_value() if secret is not None else None,
            allowed_updates=Update.ALL_TYPES,
        )
        log.info(
            "bot @%s takes updates at http://%s:%s/%s",
            self.app.bot.username,
            self.settings.listen,
            self.settings.port,
            self.settings.path,
        )

    async def stop(self) -> None:
        """Stop listening (Telegram keeps the updates until a worker takes them)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def receive(self, request: web.Request) -> web.Response:
        """One update: 403 without the right secret, 400 if it is not an update."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        # No secret configured refuses everything: the config check makes it required.
        if self._secret is None or not hmac.compare_digest(given, self._secret):
            log.warning("webhook request without the right secret token refused")
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
        except (UnicodeDecodeError, ValueError):
            return web.Response(status=400, text="not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        trim_update(data)
        try:
            update = Update.de_json(data, self.app.bot)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # Answered 200 all the same: Telegram would otherwise send it again forever.
            log.error("skipping unreadable update %s: %r", data["update_id"], exc)
            return web.Response()
        await self.app.update_queue.put(update)
        return web.Response()
