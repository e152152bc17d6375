"""Who is asking: Telegram's initData, checked on every `/api/` request.

The Mini App's initData is signed by Telegram with a key derived from the bot's token
(HMAC-SHA-256, as Telegram documents); `init-data-py` checks it. It travels in the
`X-Telegram-Init-Data` header, never in a cookie or a URL: a page of another site cannot
make the browser send it (no CSRF), and it shows in no access log or browser history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from init_data_py import validate_by_hash
from init_data_py.errors import InvalidInitDataError

from bot.core.languages import language_for
from bot.core.models import Member
from bot.limits import Budget
from bot.services.deals import GroupBuy

log = logging.getLogger(__name__)

INIT_DATA_HEADER = "X-Telegram-Init-Data"
MAX_AGE = 3600  # seconds an initData stays good: a console left open an hour is re-opened
WINDOW = 60.0  # seconds of the per-user request budget


@dataclass(frozen=True)
class Viewer:
    """The Telegram user a request comes from, and the language they read."""

    member: Member
    lang: str

    @property
    def user_id(self) -> int:
        return self.member.user_id


VIEWER = web.RequestKey("viewer", Viewer)


class Gate:
    """The `/api/` middleware: 401 without a valid, fresh initData; 429 over the user's
    budget of requests a minute; else the request knows its `Viewer`."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy
        self._token = groupbuy.settings.telegram.token
        self._budget = Budget(groupbuy.settings.webapp.requests_per_minute, WINDOW)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        member = self.member_of(request.headers.get(INIT_DATA_HEADER, ""))
        if member is None:
            # Nobody is known: the language Telegram's web view asks pages in.
            asked = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0]
            return self._refusal(401, "webapp/unauthorized", language_for(asked))
        lang = await self.gb.languages.of(member)
        if not self._budget.take(member.user_id, self.gb.clock.now().timestamp()):
            log.info("console requests from user=%s over budget", member.user_id)
            return self._refusal(429, "webapp/slow_down", lang, {"Retry-After": "5"})
        request[VIEWER] = Viewer(member, lang)
        return await handler(request)

    def _refusal(
        self, status: int, template: str, lang: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        """A refusal the console shows as it is, in the reader's language."""
        text = self.gb.texts.render(template, lang)
        return web.Response(
            status=status, text=text, content_type="text/html", charset="utf-8", headers=headers
        )

    def member_of(self, init_data: str) -> Member | None:
        """The user an initData names if Telegram signed it for this bot within the last
        MAX_AGE seconds; else None (the reason logged, never the data)."""
        if not init_data:
            return None
        try:
            data = validate_by_hash(
                init_data,
                self._token.get_secret_value(),
                expires_in=MAX_AGE,
                now=self.gb.clock.now(),
            )
        except InvalidInitDataError as exc:
            log.info("console request refused: %s", type(exc).__name__)
            return None
        user = data.user
        if user is None:
            return None
        return Member(
            user.id, user.first_name, user.last_name or "", user.username, user.language_code
        )
