"""For whoever hosts the bot: `/healthz`, `/readyz` and `/metrics` over HTTP.

They are served on the webhook's server when the webhook is on, and on `[ops] listen:port`
of their own when that port is set (polling or not).

- `/healthz`: 200 while the process and its event loop answer.
- `/readyz`: 200 when the store answers (a cheap query, within 2 s), the Bot API answered
  within the last minute or its last call succeeded, and the timers run (swept within
  twice their interval and a half-minute); else 503 with a one-line JSON reason.
- `/metrics`: Prometheus' text format, this bot's registry (bot/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

if TYPE_CHECKING:
    from bot.context import App

log = logging.getLogger(__name__)


class CannotListen(Exception):
    """A server of ours could not take its address: in use, or not ours to bind."""


async def serve(
    mount: Callable[[web.Application], None], host: str, port: int, setting: str
) -> web.AppRunner:
    """An aiohttp server of our own on host:port with what `mount` adds; if the port
    cannot be had, CannotListen says in one line which setting to change."""
    server = web.Application()
    mount(server)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise CannotListen(f"cannot listen on {host}:{port} ({reason}); check {setting}") from None
    except BaseException:
        await runner.cleanup()
        raise
    return runner


STORE_TIMEOUT = 2.0  # seconds the store may take to answer /readyz's query
TICK_GRACE = 30.0  # seconds a sweep may run late before the timers count as stopped
PROBE_EVERY = 10.0  # seconds between /readyz's own calls to the Bot API when it seems down
PROBE_TIMEOUT = 5.0


class Ops:
    """The operator's endpoints for one application."""

    def __init__(self, app: App) -> None:
        self.service = app.bot_data.groupbuy
        self.metrics = self.service.metrics
        self.settings = self.service.settings.ops
        self._expose = make_aiohttp_handler(self.metrics.registry)
        self._runner: web.AppRunner | None = None
        self._bot = app.bot
        self._probed = -PROBE_EVERY

    def mount(self, server: web.Application) -> None:
        """Add the endpoints to an aiohttp application (the webhook's, or our own)."""
        server.router.add_get("/healthz", self.healthz)
        server.router.add_get("/readyz", self.readyz)
        server.router.add_get("/metrics", self.scrape)

    async def start(self) -> None:
        """Listen on `[ops] listen:port` if a port is set."""
        if not self.settings.port:
            return
        self._runner = await serve(self.mount, self.settings.listen, self.settings.port, "ops.port")
        log.info(
            "health and metrics at http://%s:%s/readyz and /metrics",
            self.settings.listen,
            self.settings.port,
        )

    async def stop(self) -> None:
        """Stop listening (if we were)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        """The process and its event loop answer."""
        return _json(200, {"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready to serve: the store, the Bot API and the timers, or why not."""
        reason = await self.trouble()
        if reason is not None:
            return _json(503, {"status": "not ready", "reason": reason})
        return _json(200, {"status": "ready"})

    async def trouble(self) -> str | None:
        """What keeps the bot from serving, or None."""
        deadlines = self.service.deadlines
        if not deadlines.scheduler.running or deadlines.last_tick is None:
            return "the timers are not running (starting or stopping)"
        try:
            await asyncio.wait_for(self.service.store.schema_version(), STORE_TIMEOUT)
        except TimeoutError:
            return f"the store did not answer within {STORE_TIMEOUT:.0f} s"
        except Exception as exc:
            return f"the store does not answer: {type(exc).__name__}"
        if self.metrics.api_trouble() is not None:
            # A quiet webhook bot makes no calls that would show the Bot API is back: ask.
            await self._probe()
            if (api := self.metrics.api_trouble()) is not None:
                return api
        late = time.monotonic() - deadlines.last_tick
        if late > 2 * deadlines.tick_seconds + TICK_GRACE:
            return f"the timers last swept {late:.0f} s ago"
        return None

    async def _probe(self) -> None:
        """Call getMe (at most every PROBE_EVERY seconds): the transport records how the
        Bot API answered, which is what readiness reads."""
        now = time.monotonic()
        if now - self._probed < PROBE_EVERY:
            return
        self._probed = now
        try:
            await asyncio.wait_for(self._bot.get_me(), PROBE_TIMEOUT)
        except Exception as exc:  # recorded by the transport; /readyz says why
            log.debug("readiness probe failed: %r", exc)

    async def scrape(self, request: web.Request) -> web.StreamResponse:
        """The metrics, with the open deals counted now."""
        try:
            deals = await asyncio.wait_for(self.service.store.deals.all_open_deals(), STORE_TIMEOUT)
        except Exception as exc:  # the store's trouble shows in /readyz; keep the last count
            log.warning("open deals not counted for /metrics: %r", exc)
        else:
            self.metrics.deals_open.set(len(deals))
        return await self._expose(request)


def _json(status: int, body: dict[str, str]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json"
    )
