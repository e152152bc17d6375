"""The pickup list: a group's day, point by point, member by member, with the collection
codes, printable on A4 (the shell's print stylesheet); and the collection-code box that
checks an order off as `/collected <code>` does."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from bot.core.models import Group
from bot.webapp.pages import Pages, body_of, day_asked, id_field, text_field, viewer_of

CODE = re.compile(r"[A-Z0-9]{5}")  # as /collected reads one (handlers/leaders.py)


class PickupViews:
    """The day's pickup list and its code box."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.console = pages.console

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/view/pickup/{chat_id}", self.pickup),
            web.post("/collect", self.collect),
        ]

    async def pickup(self, request: web.Request) -> web.Response:
        """The pickup list of `?day=YYYY-MM-DD` (today by default) in a group I lead."""
        day = day_asked(request.query.get("day"))
        group = await self.pages.group_asked(request)
        if group is None:
            return self.pages.not_found(request)
        return await self._view(request, group, day)

    async def _view(
        self, request: web.Request, group: Group, day: date | None, notice: str = ""
    ) -> web.Response:
        group_day = await self.console.day_of(group, day)
        return self.pages.fragment(request, "pickup", day=group_day, notice=notice)

    async def collect(self, request: web.Request) -> web.Response:
        """A collection code typed at the pickup: the order is marked collected; answered
        with the day's list again, saying whose order it was (or that none has the code)."""
        body = await body_of(request)
        chat_id = id_field(body, "chat_id")
        day = day_asked(body.get("day"))
        code = text_field(body, "code", 16).upper()
        viewer = viewer_of(request)
        group = await self.console.led_group(viewer.user_id, chat_id)
        if group is None:
            return self.pages.not_leader(request)
        reports = self.pages.reports
        row = await reports.order_by_code(code) if CODE.fullmatch(code) else None
        if row is None or row.deal.chat_id != chat_id:  # another group's code is not found
            notice = self.pages.say(request, "code_not_found", code=code)
        else:
            await reports.mark([row], "collected", True, viewer.user_id)
            notice = self.pages.say(request, "tap_marked", row=row, mark="collected", value=True)
        return await self._view(request, group, day, notice)
