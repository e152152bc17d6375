"""What every view of the console shares: the services, the fragment answer, and the
checks on what a request may ask (numbers, days, lengths) before anything is looked up."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Protocol

from aiohttp import web
from markupsafe import Markup, escape

from bot.core.models import Deal, Group
from bot.core.summary import FIRST_DAY, LAST_DAY
from bot.services.console import Console
from bot.services.deals import GroupBuy
from bot.services.reports import Reports
from bot.texts import PLAIN_PREFIXES
from bot.webapp.auth import VIEWER, Viewer

# Telegram's ids (chats are negative) fit in 52 bits; anything longer is not an id.
ID_LIMIT = 2**52
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_STORE = {"Cache-Control": "no-store"}  # a page about orders is never kept by a cache


class Views(Protocol):
    """An area of the console (leader.py, pickup.py …): its routes under `/api/`."""

    def routes(self) -> list[web.RouteDef]: ...


class Pages:
    """The services a view calls, and how it answers."""

    def __init__(self, groupbuy: GroupBuy, reports: Reports, console: Console) -> None:
        self.gb = groupbuy
        self.reports = reports
        self.console = console

    async def group_asked(self, request: web.Request) -> Group | None:
        """The group the path names (`{chat_id}`) if the viewer leads it now, else None."""
        return await self.console.led_group(viewer_of(request).user_id, path_id(request, "chat_id"))

    async def deal_asked(self, request: web.Request) -> tuple[Group, Deal] | None:
        """The deal the path names (`{deal_id}`) and its group, if the viewer leads it now."""
        return await self.console.led_deal(viewer_of(request).user_id, path_id(request, "deal_id"))

    def fragment(
        self, request: web.Request, template: str, status: int = 200, **context: Any
    ) -> web.Response:
        """`templates/webapp/<template>.j2` in the viewer's language, as an HTML fragment."""
        viewer = request[VIEWER]
        text = self.gb.texts.render(f"webapp/{template}", viewer.lang, viewer=viewer, **context)
        return web.Response(
            status=status, text=text, content_type="text/html", charset="utf-8", headers=NO_STORE
        )

    def not_found(self, request: web.Request) -> web.Response:
        """404: no such thing, or not the viewer's to see (the two are not told apart)."""
        return self.fragment(request, "not_found", status=404)

    def not_leader(self, request: web.Request) -> web.Response:
        """403: a write by someone who does not lead the group (or no longer does)."""
        return self.fragment(request, "refused", status=403, notice=self.say(request, "not_leader"))

    def say(self, request: web.Request, template: str, **context: Any) -> Markup:
        """One of the bot's messages, for a notice in a fragment: a plain-text template's
        words escaped, an HTML one's kept (it escapes what users typed itself)."""
        text = self.gb.texts.render(template, viewer_of(request).lang, **context)
        return escape(text) if template.startswith(PLAIN_PREFIXES) else Markup(text)


def viewer_of(request: web.Request) -> Viewer:
    """Who asked (set by the gate, bot/webapp/auth.py)."""
    return request[VIEWER]


def path_id(request: web.Request, name: str) -> int:
    """An id in the path; 404 for anything that is not one."""
    value = request.match_info.get(name, "")
    if not re.fullmatch(r"-?[0-9]{1,16}", value) or abs(int(value)) >= ID_LIMIT:
        raise web.HTTPNotFound()
    return int(value)


def day_asked(value: str | None) -> date | None:
    """`YYYY-MM-DD` (a query's or a body's `day`), None if not given; 400 otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise web.HTTPBadRequest(text="day: YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise web.HTTPBadRequest(text="day: YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise web.HTTPBadRequest(text="day: out of range")
    return day


async def body_of(request: web.Request) -> dict[str, Any]:
    """A write's JSON object; 400 for anything else."""
    if request.content_type != "application/json":
        raise web.HTTPBadRequest(text="JSON expected")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="JSON expected") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object expected")
    return body


def id_field(body: dict[str, Any], name: str) -> int:
    """An id in a write's body; 400 unless it is a whole number in range."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= ID_LIMIT:
        raise web.HTTPBadRequest(text=f"{name}: a whole number expected")
    return value


def text_field(body: dict[str, Any], name: str, longest: int) -> str:
    """A short text in a write's body, trimmed; 400 unless it is one of at most `longest`."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) > longest:
        raise web.HTTPBadRequest(text=f"{name}: a text of at most {longest} characters")
    return value.strip()
