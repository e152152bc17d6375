"""CSV downloads of the same data as /export: a group's day, or every order of a deal.

The shell fetches them with the initData header and saves the answer as a file (a blob),
so that the initData never goes into a link.
"""

from __future__ import annotations

from aiohttp import web

from bot.core.models import OrderRow
from bot.core.summary import export_csv
from bot.webapp.pages import NO_STORE, Pages, day_asked, viewer_of


class ExportViews:
    """The CSV files."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.console = pages.console

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/csv/day/{chat_id}", self.day),
            web.get("/csv/deal/{deal_id}", self.deal),
        ]

    async def day(self, request: web.Request) -> web.Response:
        """The orders of a group's day (`?day=`, today by default), as `/export <day>`."""
        day = day_asked(request.query.get("day"))
        group = await self.pages.group_asked(request)
        if group is None:
            return self.pages.not_found(request)
        group_day = await self.console.day_of(group, day)
        name = f"orders-{group_day.day.isoformat()}.csv"
        return self._csv(request, group_day.all_rows, group.tz, name)

    async def deal(self, request: web.Request) -> web.Response:
        """Every order of a deal, whatever its status, as `/export <deal>`."""
        found = await self.pages.deal_asked(request)
        if found is None:
            return self.pages.not_found(request)
        group, deal = found
        rows = await self.pages.reports.orders_of_deal(deal.id)
        return self._csv(request, rows, group.tz, f"orders-deal-{deal.id}.csv")

    def _csv(self, request: web.Request, rows: list[OrderRow], tz: str, name: str) -> web.Response:
        lang = viewer_of(request).lang
        texts = self.pages.gb.texts
        data = export_csv(rows, tz, lambda member: texts.member_name(member, lang))
        return web.Response(
            body=data,
            content_type="text/csv",
            charset="utf-8",
            headers=NO_STORE | {"Content-Disposition": f'attachment; filename="{name}"'},
        )
