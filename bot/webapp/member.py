"""A member's view: my orders across groups, their status and collection codes; only
ever the viewer's own (the user comes from the signed initData, never from the request)."""

from __future__ import annotations

from aiohttp import web

from bot.webapp.pages import Pages, viewer_of


class MemberViews:
    """My orders."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/view/orders", self.orders)]

    async def orders(self, request: web.Request) -> web.Response:
        """The viewer's latest orders (as /orders lists them)."""
        viewer = viewer_of(request)
        rows = await self.pages.gb.orders_of(viewer.user_id)
        leads = bool(await self.pages.console.groups_led_by(viewer.user_id))
        return self.pages.fragment(request, "member", rows=rows, leads=leads)
