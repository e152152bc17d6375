"""The console's HTTP side: the shell page, its static files, and `/api/` behind the gate.

In polling mode it listens on `[webapp] listen:port` of its own; with the webhook on, the
webhook's server serves it beside the webhook (one public address, one TLS proxy). Either
way the bot's menu button is pointed at `[webapp] url` when the console starts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot.ops import serve
from bot.webapp.auth import Gate
from bot.webapp.chart import ChartViews
from bot.webapp.export import ExportViews
from bot.webapp.leader import LeaderViews
from bot.webapp.member import MemberViews
from bot.webapp.pages import NO_STORE, Pages, Views
from bot.webapp.pickup import PickupViews

if TYPE_CHECKING:
    from bot.context import App

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
BODY_LIMIT = 16 * 1024  # bytes a write may send: its JSON holds a few ids and a code
# The shell and its fragments load nothing from elsewhere; the fragments' inline SVG and
# the theme colours set from script are allowed by these.
SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleServer:
    """The console for one application: mounted on a server, or listening on its own."""

    def __init__(self, app: App) -> None:
        groupbuy = app.bot_data.groupbuy
        self.settings = groupbuy.settings.webapp
        self.console = app.bot_data.console
        pages = Pages(groupbuy, app.bot_data.reports, self.console)
        self.views: list[Views] = [
            LeaderViews(pages),
            PickupViews(pages),
            ExportViews(pages),
            ChartViews(pages),
            MemberViews(pages),
        ]
        self.gate = Gate(groupbuy)
        self._runner: web.AppRunner | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def mount(self, server: web.Application) -> None:
        """Add the shell, its files and the API to an aiohttp application."""
        server.router.add_get("/", self.shell)
        server.router.add_static("/static/", STATIC, append_version=False)
        api = web.Application(middlewares=[self.gate.middleware], client_max_size=BODY_LIMIT)
        for views in self.views:
            api.add_routes(views.routes())
        server.add_subapp("/api/", api)
        server.on_response_prepare.append(_secure)

    async def start(self, own_server: bool) -> None:
        """Point the menu button at the console; listen on `[webapp] listen:port` if it has
        no server of the webhook's to share."""
        await self.console.set_menu_button()
        if not own_server:
            return
        self._runner = await serve(
            self.mount, self.settings.listen, self.settings.port, "webapp.port"
        )
        log.info("console at http://%s:%s/", self.settings.listen, self.settings.port)

    async def stop(self) -> None:
        """Stop listening (if we were)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def shell(self, request: web.Request) -> web.FileResponse:
        """The one page: it reads the initData from Telegram and fetches the views."""
        return web.FileResponse(STATIC / "index.html", headers=NO_STORE)


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer of the console's: no outside resources, no sniffing, no referrer."""
    if request.path == "/" or request.path.startswith(("/static/", "/api/")):
        response.headers.update(SECURITY)
