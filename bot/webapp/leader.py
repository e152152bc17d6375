"""The leader's views: my groups → deals (open first) → rounds → orders with paid and
collected toggles; unpaid orders across my groups with "remind"; "post again".

Every write re-checks that the viewer leads the group now, and goes through the service
the commands use (/paid, /unpaid's button, /repost), so the console keeps no rules of its
own and a mark set here is in the same append-only history as a /paid.
"""

from __future__ import annotations

from aiohttp import web

from bot.core.errors import UserError
from bot.core.models import Deal, Group, OrderStatus
from bot.webapp.pages import Pages, body_of, id_field, text_field, viewer_of

MARKS = ("paid", "collected")


class LeaderViews:
    """Groups, deals, orders and the writes on them."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.console = pages.console

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/view/home", self.home),
            web.get("/view/group/{chat_id}", self.group),
            web.get("/view/deal/{deal_id}", self.deal),
            web.get("/view/unpaid", self.unpaid),
            web.post("/mark", self.mark),
            web.post("/remind", self.remind),
            web.post("/repost", self.repost),
        ]

    async def home(self, request: web.Request) -> web.Response:
        """The groups I lead; a member who leads none sees their own orders."""
        viewer = viewer_of(request)
        groups = await self.console.groups_led_by(viewer.user_id)
        if not groups:
            rows = await self.pages.gb.orders_of(viewer.user_id)
            return self.pages.fragment(request, "member", rows=rows, leads=False)
        return self.pages.fragment(request, "home", groups=groups)

    async def group(self, request: web.Request) -> web.Response:
        """One group I lead: its deals, open first, and the ways to its day's lists."""
        group = await self.pages.group_asked(request)
        if group is None:
            return self.pages.not_found(request)
        return await self._group_view(request, group)

    async def _group_view(
        self, request: web.Request, group: Group, notice: str = ""
    ) -> web.Response:
        deals = await self.console.deals_of(group)
        today = self.pages.reports.today(group)
        return self.pages.fragment(
            request, "group", group=group, deals=deals, today=today, notice=notice
        )

    async def deal(self, request: web.Request) -> web.Response:
        """One deal of a group I lead: its rounds, newest first, and their orders."""
        found = await self.pages.deal_asked(request)
        if found is None:
            return self.pages.not_found(request)
        return await self._deal_view(request, *found)

    async def _deal_view(self, request: web.Request, group: Group, deal: Deal) -> web.Response:
        rounds = await self.console.rounds_of(deal)
        return self.pages.fragment(
            request, "deal", group=group, deal=deal, rounds=rounds, confirmed=OrderStatus.CONFIRMED
        )

    async def mark(self, request: web.Request) -> web.Response:
        """Set or clear an order's paid or collected mark (as /paid and /collected do);
        answered with the deal's fresh view."""
        body = await body_of(request)
        order_id = id_field(body, "order_id")
        mark = text_field(body, "mark", 16)
        value = body.get("value")
        if mark not in MARKS or not isinstance(value, bool):
            raise web.HTTPBadRequest(text="mark: paid or collected; value: true or false")
        viewer = viewer_of(request)
        reports = self.pages.reports
        row = await reports.order(order_id)
        if row is None:
            return self.pages.not_found(request)
        group = await self.console.led_group(viewer.user_id, row.deal.chat_id)
        if group is None:  # another group's order, or a leader who stopped leading
            return self.pages.not_leader(request)
        await reports.mark([row], mark, value, viewer.user_id)
        return await self._deal_view(request, group, row.deal)

    async def unpaid(self, request: web.Request, notice: str = "") -> web.Response:
        """Confirmed orders not yet paid, in every group I lead (/unpaid)."""
        payments = self.pages.gb.payments
        groups = await self.console.groups_led_by(viewer_of(request).user_id)
        lists = [(group, await payments.unpaid(group.chat_id)) for group in groups]
        return self.pages.fragment(request, "unpaid", lists=lists, notice=notice)

    async def remind(self, request: web.Request) -> web.Response:
        """Remind a group's members with unpaid orders, once a day each (/unpaid's button)."""
        chat_id = id_field(await body_of(request), "chat_id")
        if await self.console.led_group(viewer_of(request).user_id, chat_id) is None:
            return self.pages.not_leader(request)
        sent, skipped = await self.pages.gb.payments.remind_unpaid(chat_id)
        notice = self.pages.say(request, "tap_reminded", sent=sent, skipped=skipped)
        return await self.unpaid(request, notice)

    async def repost(self, request: web.Request) -> web.Response:
        """Post a past deal again in its group, as `/repost <deal>` there would."""
        deal_id = id_field(await body_of(request), "deal_id")
        viewer = viewer_of(request)
        found = await self.console.led_deal(viewer.user_id, deal_id)
        if found is None:
            return self.pages.not_leader(request)
        group, _ = found
        try:
            posted = await self.pages.gb.repost(group, viewer.member, deal_id, "")
        except UserError as error:
            notice = self.pages.say(request, error.template, **error.context, repost=deal_id)
        else:
            notice = self.pages.say(request, "webapp/reposted", deal=posted)
        return await self._group_view(request, group, notice)
