"""The last 30 days of a group I lead: orders, units and revenue per day, drawn as SVG on
the server (bot/core/chart.py), so the page needs nothing but the bot's host."""

from __future__ import annotations

from aiohttp import web

from bot.core.chart import bars
from bot.webapp.pages import Pages

WIDTH, HEIGHT = 300.0, 80.0  # the SVG's own units; it scales to the page's width


class ChartViews:
    """The chart."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.console = pages.console

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/view/chart/{chat_id}", self.chart)]

    async def chart(self, request: web.Request) -> web.Response:
        """Three bar charts, one per measure, a bar per day."""
        group = await self.pages.group_asked(request)
        if group is None:
            return self.pages.not_found(request)
        days = await self.console.chart(group)
        panels = [
            (measure, bars([(d.day, getattr(d, measure)) for d in days], WIDTH, HEIGHT))
            for measure in ("orders", "units", "revenue")
        ]
        return self.pages.fragment(
            request, "chart", group=group, days=days, panels=panels, width=WIDTH, height=HEIGHT
        )
