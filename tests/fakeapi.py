"""A fake Telegram Bot API server for tests.

`FakeBotAPI` is an aiohttp server bound to 127.0.0.1 inside the test's event loop. A real
python-telegram-bot ``Bot``/``Application`` (or a bot in a subprocess) talks to it with
``base_url=api.base_url``. It speaks the Bot API's JSON envelope, keeps the state of every
message so tests can read the current deal card, reproduces the error descriptions the bot code
matches on, and can inject floods, gateway errors and slow replies. Tests drive it through the
helpers (`user`, `group`, `send_text`, `tap`, `wait_answer`, ...): they push updates that the
bot receives with ``getUpdates`` and inspect what the bot sent back.

Everything runs in one event loop and no state change awaits half-way, so helpers and request
handlers can interleave freely between any number of coroutines.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import mimetypes
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiohttp import web

JSON = dict[str, Any]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64

# Error descriptions exactly as Telegram words them: the bot matches on these strings.
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
USER_NOT_FOUND = "Bad Request: user not found"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a content and reply markup of the current message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "Bad Request: there is no caption in the message to edit"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
CANT_BE_DELETED = "Bad Request: message can't be deleted"
REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
PIN_NO_RIGHTS = "Bad Request: not enough rights to manage pinned messages in the chat"
PIN_NOT_FOUND = "Bad Request: message to pin not found"
UNPIN_NOT_FOUND = "Bad Request: message to unpin not found"
TEXT_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
TEXT_EMPTY = "Bad Request: message text is empty"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
CANT_PARSE = "Bad Request: can't parse entities: "
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
INLINE_MESSAGE_INVALID = "Bad Request: MESSAGE_ID_INVALID"
RESULTS_TOO_MUCH = "Bad Request: RESULTS_TOO_MUCH"
RESULT_ID_INVALID = "Bad Request: RESULT_ID_INVALID"
RESULT_ID_DUPLICATE = "Bad Request: RESULT_ID_DUPLICATE"
NEXT_OFFSET_INVALID = "Bad Request: NEXT_OFFSET_INVALID"
NOT_A_MEMBER = "Forbidden: bot is not a member of the group chat"
INLINE_RESULTS = 50  # results one answerInlineQuery may carry
INLINE_ID_LIMIT = 64  # bytes of a result's id, and of next_offset
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)
DEFAULT_FLOOD_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", *EDIT_METHODS})

# Form fields arrive as strings; these carry numbers in the Bot API (chat_id may be "@name").
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "from_chat_id",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "until_date",
    }
)
_FLOAT_FIELDS = frozenset({"timeout"})
# Free text a user could type: never guess a JSON or boolean value out of these.
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "inline_query_id",
        "next_offset",
        "parse_mode",
        "url",
        "title",
        "description",
        "short_description",
        "name",
        "custom_title",
        "emoji",
        "photo",
        "document",
        "secret_token",
        "language_code",
        "payload",
        "provider_token",
        "currency",
        "error_message",
        "pre_checkout_query_id",
        "photo_url",
    }
)

_ADMIN_RIGHTS: JSON = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": True,
    "can_edit_stories": True,
    "can_delete_stories": True,
    "can_pin_messages": True,
    "can_manage_topics": False,
}

# Keys of a message state that are for tests only and never go over the wire.
_INTERNAL_KEYS = frozenset({"html", "deleted", "invoice_sent"})

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


class ApiError(Exception):
    """A Bot API error reply: HTTP status, description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(slots=True)
class Recorded:
    """One request the fake answered, with its decoded parameters and outcome."""

    method: str
    params: JSON
    at: float
    status: int = 200
    description: str | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.status == 200


@dataclass(slots=True)
class Upload:
    """A file sent as a multipart part."""

    field: str
    filename: str | None
    data: bytes
    content_type: str | None


@dataclass(slots=True)
class _Queued:
    """An update waiting in the getUpdates queue."""

    update_id: int
    update: JSON
    # A forced copy simulates redelivery: it survives offset confirmation until delivered once.
    forced: bool = False
    delivered: bool = False


@dataclass(slots=True)
class _Query:
    """A callback query the bot may still answer."""

    created: float
    answered: bool = False


@dataclass(slots=True)
class _Fault:
    """A pending batch of injected failures."""

    left: int
    methods: frozenset[str] | None
    status: int
    retry_after: int = 0


# --------------------------------------------------------------------------------------------
# HTML parse mode


class HtmlError(ValueError):
    """Text that Telegram's HTML parser rejects."""


_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<&]")
_START_TAG = re.compile(
    r"<([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z_][\w-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*/?>"
)
_ATTRIBUTE = re.compile(r"([A-Za-z_][\w-]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY_REF = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z]+);")


def utf16_len(text: str) -> int:
    """Length of text in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _decode_entity(body: str) -> str | None:
    """The character an entity body (between & and ;) stands for, or None if unsupported."""
    if body.startswith("#"):
        code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else None
    return _NAMED_ENTITIES.get(body)


def _unescape_attribute(value: str) -> str:
    """Attribute value with supported entities decoded; others are kept verbatim."""
    return _ENTITY_REF.sub(lambda m: _decode_entity(m.group(1)) or m.group(0), value)


@dataclass(slots=True)
class _OpenTag:
    """A start tag waiting for its end tag."""

    name: str
    attrs: dict[str, str]
    start: int
    seq: int
    language: str | None = None


def parse_html(source: str, users: dict[int, JSON] | None = None) -> tuple[str, list[JSON]]:
    """Visible text and entities of Bot API HTML, raising HtmlError where Telegram would."""

    def at(index: int) -> str:
        return f"at byte offset {len(source[:index].encode())}"

    out: list[str] = []
    pos = 0  # UTF-16 offset of the end of the visible text so far
    stack: list[_OpenTag] = []
    found: list[tuple[int, int, int, JSON]] = []
    seq = itertools.count()
    i, n = 0, len(source)
    while i < n:
        if source[i] == "&":
            ref = _ENTITY_REF.match(source, i)
            char = _decode_entity(ref.group(1)) if ref else None
            if ref is None or char is None:
                raise HtmlError(f"Unsupported HTML entity {at(i)}")
            out.append(char)
            pos += utf16_len(char)
            i = ref.end()
        elif source.startswith("</", i):
            end = source.find(">", i)
            if end == -1:
                raise HtmlError(f"Unclosed end tag {at(i)}")
            name = source[i + 2 : end].strip().lower()
            if not stack:
                raise HtmlError(f"Unexpected end tag {at(i)}")
            tag = stack.pop()
            if name != tag.name:
                raise HtmlError(
                    f'Unmatched end tag {at(i)}, expected "</{tag.name}>", found "</{name}>"'
                )
            entity = _close_tag(tag, pos, stack, users or {})
            if entity is not None:
                found.append((tag.start, -(pos - tag.start), tag.seq, entity))
            i = end + 1
        elif source[i] == "<":
            match = _START_TAG.match(source, i)
            if match is None:
                if not source[i + 1 : i + 2].isalpha():
                    raise HtmlError(f"Unexpected end of name token {at(i + 1)}")
                raise HtmlError(f"Unclosed start tag {at(i)}")
            name = match.group(1).lower()
            if name not in _TAG_TYPES:
                raise HtmlError(f'Unsupported start tag "{name}" {at(i)}')
            attrs = {
                a.group(1).lower(): _unescape_attribute(
                    a.group(2) or a.group(3) or a.group(4) or ""
                )
                for a in _ATTRIBUTE.finditer(match.group(2))
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise HtmlError(f'Tag "span" must have class "tg-spoiler" {at(i)}')
            stack.append(_OpenTag(name, attrs, pos, next(seq)))
            i = match.end()
        else:
            special = _SPECIAL.search(source, i)
            j = special.start() if special else n
            chunk = source[i:j]
            out.append(chunk)
            pos += utf16_len(chunk)
            i = j
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[0].name}"')
    found.sort(key=lambda item: item[:3])
    return "".join(out), [entity for *_, entity in found]


def _close_tag(
    tag: _OpenTag, end: int, stack: list[_OpenTag], users: dict[int, JSON]
) -> JSON | None:
    """The entity a closed tag produces, or None (empty span, link without href, ...)."""
    length = end - tag.start
    kind = _TAG_TYPES[tag.name]
    if tag.name == "code" and stack and stack[-1].name == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, as in Telegram.
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].language = language.removeprefix("language-")
        return None
    if length <= 0:
        return None
    entity: JSON = {"offset": tag.start, "length": length, "type": kind}
    if tag.name == "a":
        href = tag.attrs.get("href")
        if not href:
            return None
        mention = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if mention and int(mention.group(1)) in users:
            entity.update(type="text_mention", user=users[int(mention.group(1))])
        else:
            entity["url"] = href
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        emoji_id = tag.attrs.get("emoji-id")
        if not emoji_id:
            return None
        entity["custom_emoji_id"] = emoji_id
    return entity


# --------------------------------------------------------------------------------------------
# Request parameters


def _coerce(key: str, value: Any) -> Any:
    """A form value decoded the way the Bot API reads it (ints, booleans, JSON)."""
    if not isinstance(value, str) or key in _TEXT_FIELDS:
        return value
    if key in _INT_FIELDS or key in _FLOAT_FIELDS:
        try:
            return int(value)
        except ValueError:
            pass
        if key in _FLOAT_FIELDS:
            try:
                return float(value)
            except ValueError:
                return value
        return value  # e.g. chat_id="@channel"
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _matches(params: JSON, match: JSON) -> bool:
    """Whether params hold every key of match with an equal value."""
    missing = object()
    return all(params.get(key, missing) == value for key, value in match.items())


def _public(message: JSON) -> JSON:
    """A message state as the Bot API would return it (test-only keys removed)."""
    return {key: value for key, value in message.items() if key not in _INTERNAL_KEYS}


# --------------------------------------------------------------------------------------------
# The server


class FakeBotAPI:
    """An in-process Bot API server with scriptable users, chats, updates and faults."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "groupbuy_test_bot",
        bot_name: str = "GroupBuy Test Bot",
        *,
        tls: ssl.SSLContext | None = None,
        only_from: str | None = None,
    ) -> None:
        """Prepare an idle server; call `start` (or use ``async with``) to listen.

        `tls` serves HTTPS with that server context. `only_from` answers a request from any
        other address than it with 403, and counts it in `refused_peers`: a test that
        routes the bot through a proxy bound to that address proves the proxy carried
        every request.
        """
        self.token = token
        self.tls = tls
        self.only_from = only_from
        self.refused_peers = 0
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, JSON] = {}
        self.started_users: set[int] = set()
        self.blocked_users: set[int] = set()
        self.kicked_chats: set[int] = set()
        self.chat_creators: dict[int, int] = {}
        self.chat_admins: dict[int, set[int]] = {}
        self.chat_members: dict[int, set[int]] = {}
        # Per (chat_id, user_id) overrides of the administrator rights getChatMember reports.
        self.admin_rights: dict[tuple[int, int], JSON] = {}
        # Each chat's pinned messages, the most recently pinned last.
        self.pinned: dict[int, list[int]] = {}
        # Command menus by (scope as JSON, language code or ""), as setMyCommands left them.
        self.menus: dict[tuple[str, str], list[JSON]] = {}
        # The menu button by private chat (None: every chat's default), as last set.
        self.menu_buttons: dict[int | None, JSON] = {}
        self.webhook_url = ""

        self.requests: list[Recorded] = []
        self.answers: dict[str, list[JSON]] = {}
        # Pre-checkout queries by id: every answerPreCheckoutQuery the bot made to each.
        self.checkouts: dict[str, list[JSON]] = {}
        self.pushed: list[JSON] = []
        self.uploads: dict[str, Upload] = {}
        # Inline mode: every answerInlineQuery the bot made, by query id; whether Telegram
        # sends chosen_inline_result (@BotFather's /setinlinefeedback); the messages sent
        # through the bot by inline_message_id, as (chat id, message id); chats the bot is
        # not in (a card can still be shared there).
        self.inline_answers: dict[str, list[JSON]] = {}
        self.inline_feedback = True
        # @BotFather's /setinline: getMe says so, and with it off a switch_inline_query
        # button is refused (modelled on the side of caution: Telegram's exact answer to
        # such a button from a bot without inline mode is not documented).
        self.inline_mode = True
        self.inline_messages: dict[str, tuple[int, int]] = {}
        self.chats_without_bot: set[int] = set()

        self.flood_methods: set[str] = set(DEFAULT_FLOOD_METHODS)
        self.limit_per_group_per_minute: int | None = None
        # Seconds after which a callback query can no longer be answered (None: never).
        self.callback_query_ttl: float | None = None
        # Real Telegram ends an older long poll with 409 when a newer one arrives.
        self.conflict_on_parallel_polls = True

        self._messages: dict[int, dict[int, JSON]] = {}
        self._next_message_id: dict[int, int] = {}
        self._queue: deque[_Queued] = deque()
        self._history: dict[int, JSON] = {}
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._queries: dict[str, _Query] = {}
        self._query_ids = itertools.count(4_700_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._group_sends: dict[int, deque[float]] = {}

        self._fail: _Fault | None = None
        self._flood: _Fault | None = None
        self._delay = 0.0
        self._delay_methods: frozenset[str] | None = None

        self._poll_generation = 0
        self._signal = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        self._waiters: dict[int, tuple[Callable[[Recorded], bool], asyncio.Future[Recorded]]] = {}
        self._waiter_ids = itertools.count()
        self._answer_waiters: dict[str, list[asyncio.Future[JSON]]] = {}
        self._inline_queries: dict[str, JSON] = {}
        self._inline_ids = itertools.count(1)

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, tuple[str, Callable[[JSON], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "logOut": self._true,
                "close": self._true,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "setChatMenuButton": self._set_chat_menu_button,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "answerInlineQuery": self._answer_inline_query,
                "sendInvoice": self._send_invoice,
                "answerPreCheckoutQuery": self._answer_pre_checkout_query,
                "getChat": self._get_chat,
                "getChatMember": self._get_chat_member,
                "getChatAdministrators": self._get_chat_administrators,
                "getChatMemberCount": self._get_chat_member_count,
                "pinChatMessage": self._pin,
                "unpinChatMessage": self._unpin,
            }.items()
        }

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1: on `port`, or on a free port."""
        # Events bind to the running loop on first use: make fresh ones for this loop.
        self._signal = asyncio.Event()
        self._closed = asyncio.Event()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.tls)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening; pending long polls and delayed replies return at once."""
        self._closing = True
        self._closed.set()
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None

    async def outage(self, seconds: float) -> None:
        """Go away for `seconds` (every connection dropped, new ones refused), then listen
        again on the same port; what the fake holds (queued updates, chats) survives."""
        port = self._port
        assert port is not None, "not started"
        await self.stop()
        await asyncio.sleep(seconds)
        await self.start(port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """The ``base_url`` for python-telegram-bot, e.g. ``http://127.0.0.1:PORT/bot``."""
        return f"{self.origin}/bot"

    @property
    def base_file_url(self) -> str:
        """The ``base_file_url`` for python-telegram-bot (file downloads are not served)."""
        return f"{self.origin}/file/bot"

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS) of the running server."""
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not running: await api.start() first")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    # ---------------------------------------------------------------------- world building

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        """Register (or update) a user and their private chat; returns the User dict."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        chat: JSON = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        self.chats[user_id] = chat
        return user

    def group(
        self,
        chat_id: int,
        title: str | None = None,
        *,
        creator: JSON | int | None = None,
        admins: Iterable[JSON | int] = (),
        members: Iterable[JSON | int] = (),
        bot_admin: bool = True,
        username: str | None = None,
        chat_type: str = "supergroup",
    ) -> JSON:
        """Register a group (supergroup by default) with its people; returns the Chat dict."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat: JSON = {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}
        if username:
            chat["username"] = username
        self.chats[chat_id] = chat
        admin_ids = self.chat_admins.setdefault(chat_id, set())
        member_ids = self.chat_members.setdefault(chat_id, set())
        if creator is not None:
            self.chat_creators[chat_id] = self._user_id(creator)
            member_ids.add(self.chat_creators[chat_id])
        for person in admins:
            admin_ids.add(self._user_id(person))
        for person in members:
            member_ids.add(self._user_id(person))
        member_ids |= admin_ids
        if bot_admin:
            admin_ids.add(self.bot_id)
        else:
            admin_ids.discard(self.bot_id)
        return chat

    def deny_pins(self, chat_id: int, denied: bool = True) -> None:
        """Take from the bot (or give back) the right to pin messages in a group."""
        rights = self.admin_rights.setdefault((chat_id, self.bot_id), {})
        rights["can_pin_messages"] = not denied

    def _user_id(self, person: JSON | int) -> int:
        """The id of a User dict or id, registering unknown ids."""
        user_id = person["id"] if isinstance(person, dict) else person
        if user_id not in self.users:
            if isinstance(person, dict):
                self.users[user_id] = person
            else:
                self.user(user_id)
        return int(user_id)

    def _ensure_chat(self, chat_id: int, user_id: int) -> JSON:
        """The chat a user writes in, creating the user, the group and the membership."""
        if user_id not in self.users:
            self.user(user_id)
        if chat_id > 0:
            if chat_id != user_id:
                raise ValueError("a private chat's id is its user's id")
            self.started_users.add(user_id)
            return self.chats[user_id]
        if chat_id not in self.chats:
            self.group(chat_id)
        self.chat_members.setdefault(chat_id, set()).add(user_id)
        return self.chats[chat_id]

    # ------------------------------------------------------------------------- updates

    def push_update(self, update: JSON, *, duplicate: bool = False) -> int:
        """Queue a raw update (assigning update_id if missing); returns its update_id.

        With ``duplicate=True`` the update is delivered twice with the same update_id, the
        second copy even after the bot confirmed it, like Telegram redelivering after a crash.
        """
        update_id = update.get("update_id")
        if update_id is None:
            update = {"update_id": self._next_update_id, **update}
            update_id = self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        query = update.get("callback_query")
        if query is not None:
            self._queries.setdefault(query["id"], _Query(time.monotonic()))
            self.answers.setdefault(query["id"], [])
        message = update.get("message")
        if isinstance(message, dict):
            self._adopt(message)
        self._history[update_id] = update
        self.pushed.append(update)
        self._queue.append(_Queued(update_id, update))
        if duplicate:
            self._queue.append(_Queued(update_id, update, forced=True))
        self._wake_pollers()
        return int(update_id)

    def _adopt(self, message: JSON) -> None:
        """Keep the state of a raw pushed message so the bot can reply to or delete it."""
        chat, sender, message_id = (
            message.get("chat"),
            message.get("from"),
            message.get("message_id"),
        )
        if not isinstance(chat, dict) or not isinstance(message_id, int):
            return
        chat_id = chat.get("id")
        if not isinstance(chat_id, int):
            return
        self.chats.setdefault(chat_id, chat)
        if isinstance(sender, dict) and not sender.get("is_bot"):
            self.users.setdefault(sender["id"], sender)
            if chat_id == sender["id"]:
                self.started_users.add(chat_id)
            elif chat_id < 0:
                self.chat_members.setdefault(chat_id, set()).add(sender["id"])
        stored = self._messages.setdefault(chat_id, {})
        if message_id not in stored:
            stored[message_id] = {**copy.deepcopy(message), "html": None}
        next_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = max(next_id, message_id + 1)

    def redeliver(self, update_id: int) -> None:
        """Deliver an already pushed update once more, even if the bot confirmed it."""
        self._queue.append(_Queued(update_id, self._history[update_id], forced=True))
        self._wake_pollers()

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return [queued.update for queued in self._queue]

    def send_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """Push a text message from a user; returns the message dict."""
        chat = self._ensure_chat(chat_id, user_id)
        message = self._new_message(chat, self.users[user_id])
        message["text"] = text
        entities = entities if entities is not None else self._command_entities(text)
        if entities:
            message["entities"] = entities
        self._attach_reply(message, chat_id, reply_to)
        self.push_update({"message": _public(message)})
        return copy.deepcopy(message)

    def send_photo(
        self,
        chat_id: int,
        user_id: int,
        caption: str | None = None,
        *,
        file_id: str | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        """Push a photo message (three sizes, optional caption) from a user; returns it."""
        chat = self._ensure_chat(chat_id, user_id)
        message = self._new_message(chat, self.users[user_id])
        message["photo"] = self._photo_sizes(file_id or self._new_file_id("photo"))
        if caption:
            message["caption"] = caption
            entities = self._command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        self._attach_reply(message, chat_id, reply_to)
        self.push_update({"message": _public(message)})
        return copy.deepcopy(message)

    def tap(self, chat_id: int, user_id: int, message_id: int, callback_data: str) -> str:
        """Push a callback query for a button press on a message; returns the query id."""
        message = self._live_message(chat_id, message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id} to tap on")
        if user_id not in self.users:
            self.user(user_id)
        query_id = str(next(self._query_ids))
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.users[user_id],
                    "chat_instance": str(8_000_000_000_000_000_000 - chat_id),
                    "message": _public(message),
                    "data": callback_data,
                }
            }
        )
        return query_id

    # -- inline mode --------------------------------------------------------------------

    def chat_without_bot(self, chat_id: int, title: str | None = None) -> JSON:
        """A group the bot is not in: people there may still send a card through the bot
        (inline mode), but the bot can neither read nor write there."""
        chat = self.group(chat_id, title, bot_admin=False)
        self.chats_without_bot.add(chat_id)
        return chat

    def inline_query(self, user_id: int, query: str, offset: str = "") -> str:
        """The user types `@bot query` in some chat: an inline_query update; its id."""
        if user_id not in self.users:
            self.user(user_id)
        query_id = str(next(self._query_ids))
        inline = {
            "id": query_id,
            "from": self.users[user_id],
            "query": query,
            "offset": offset,
            "chat_type": "supergroup",
        }
        self._inline_queries[query_id] = {**inline, "answered": False}
        self.inline_answers[query_id] = []
        self.push_update({"inline_query": inline})
        return query_id

    async def wait_inline_answer(self, query_id: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """The bot's answerInlineQuery to a query (its params), waiting for it."""
        answers = await self.wait_until(lambda: self.inline_answers[query_id], timeout)
        return dict(answers[0])

    def choose_inline_result(
        self, user_id: int, query_id: str, result_id: str, chat_id: int
    ) -> tuple[JSON, str | None]:
        """The user picks a result of an answered inline query in a chat (any chat, one
        without the bot too): Telegram sends it there as the user's message `via_bot`.
        With a keyboard it gets an inline_message_id, by which the bot may edit it and
        under which its taps arrive. A chosen_inline_result update follows when feedback
        is on. Returns (the message, its inline_message_id or None)."""
        answers = self.inline_answers.get(query_id)
        if not answers:
            raise KeyError(f"inline query {query_id} was not answered")
        result = next((r for r in answers[0]["results"] if r.get("id") == result_id), None)
        if result is None:
            raise KeyError(f"no result {result_id!r} in the answer to {query_id}")
        if chat_id > 0:
            self._ensure_chat(chat_id, chat_id)
        elif chat_id not in self.chats:
            self.chat_without_bot(chat_id)
        if chat_id < 0:
            self.chat_members.setdefault(chat_id, set()).add(user_id)
        message = self._new_message(self.chats[chat_id], self.users[user_id])
        message["via_bot"] = dict(self.bot_user)
        content = result.get("input_message_content")
        if result.get("type") == "photo" and content is None:
            message["photo"] = self._photo_sizes(str(result["photo_file_id"]))
            caption, entities, html = self._formatted(
                result, "caption", "caption_entities", CAPTION_LIMIT
            )
            self._set_caption(message, caption, entities, html)
        else:
            assert isinstance(content, dict), "only text content and cached photos are modelled"
            text, entities, html = self._formatted(content, "message_text", "entities", TEXT_LIMIT)
            message["text"] = text
            if entities:
                message["entities"] = entities
            message["html"] = html
        markup = self._inline_markup(result)
        inline_id = None
        if markup is not None:
            message["reply_markup"] = markup
            inline_id = f"AgAAA{next(self._inline_ids):08d}{user_id}"
            self.inline_messages[inline_id] = (chat_id, message["message_id"])
        if self.inline_feedback:
            chosen: JSON = {
                "result_id": result_id,
                "from": self.users[user_id],
                "query": self._inline_queries[query_id]["query"],
            }
            if inline_id is not None:
                chosen["inline_message_id"] = inline_id
            self.push_update({"chosen_inline_result": chosen})
        return _public(message), inline_id

    def tap_inline(self, user_id: int, inline_message_id: str, callback_data: str) -> str:
        """A button press on a message sent through the bot: a callback_query with the
        inline_message_id and no message (the bot may not be in that chat); its id."""
        if inline_message_id not in self.inline_messages:
            raise KeyError(f"no inline message {inline_message_id}")
        if user_id not in self.users:
            self.user(user_id)
        query_id = str(next(self._query_ids))
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.users[user_id],
                    "chat_instance": f"inline-{inline_message_id}",
                    "inline_message_id": inline_message_id,
                    "data": callback_data,
                }
            }
        )
        return query_id

    def inline_message(self, inline_message_id: str) -> JSON:
        """A copy of the current state of a message sent through the bot."""
        chat_id, message_id = self.inline_messages[inline_message_id]
        return self.message(chat_id, message_id)

    def inline_text(self, inline_message_id: str) -> str:
        """What a message sent through the bot shows now (its text or caption)."""
        message = self.inline_message(inline_message_id)
        return str(message.get("text") or message.get("caption") or "")

    def inline_buttons(self, inline_message_id: str) -> list[tuple[str, str | None]]:
        """The buttons of a message sent through the bot (as `buttons`)."""
        return self.buttons(*self.inline_messages[inline_message_id])

    def _answer_inline_query(self, params: JSON) -> bool:
        """answerInlineQuery: once per query, checked as Telegram checks it."""
        query_id = str(params.get("inline_query_id", ""))
        query = self._inline_queries.get(query_id)
        if query is None:
            raise ApiError(400, QUERY_INVALID)
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > INLINE_RESULTS:
            raise ApiError(400, RESULTS_TOO_MUCH)
        ids = [str(result.get("id", "")) for result in results]
        if any(not 1 <= len(i.encode()) <= INLINE_ID_LIMIT for i in ids):
            raise ApiError(400, RESULT_ID_INVALID)
        if len(set(ids)) != len(ids):
            raise ApiError(400, RESULT_ID_DUPLICATE)
        if len(str(params.get("next_offset") or "").encode()) > INLINE_ID_LIMIT:
            raise ApiError(400, NEXT_OFFSET_INVALID)
        for result in results:
            self._inline_markup(result)  # callback data within 64 bytes
            content = result.get("input_message_content")
            if isinstance(content, dict):
                self._formatted(content, "message_text", "entities", TEXT_LIMIT)
            elif result.get("type") == "photo":
                if not result.get("photo_file_id"):
                    raise ApiError(400, "Bad Request: PHOTO_INVALID")
                self._formatted(result, "caption", "caption_entities", CAPTION_LIMIT)
            else:
                raise ApiError(400, "Bad Request: MESSAGE_EMPTY")
        answer = {k: v for k, v in params.items() if k != "inline_query_id"}
        self.inline_answers[query_id].append(answer)
        if query["answered"]:
            raise ApiError(400, QUERY_INVALID)
        query["answered"] = True
        return True

    def _inline_editable(self, params: JSON) -> JSON:
        """The message an edit by inline_message_id targets, or 400 MESSAGE_ID_INVALID."""
        where = self.inline_messages.get(str(params.get("inline_message_id")))
        message = self._live_message(*where) if where else None
        if message is None:
            raise ApiError(400, INLINE_MESSAGE_INVALID)
        return message

    # -- Telegram Payments ------------------------------------------------------------

    def invoices(self, chat_id: int) -> list[JSON]:
        """The invoices the bot sent to a chat: each message's invoice, with the payload,
        prices and provider token the bot sent (which Telegram keeps to itself)."""
        return [m["invoice_sent"] for m in self.bot_messages(chat_id) if "invoice_sent" in m]

    def pre_checkout(self, user_id: int, payload: str, currency: str, total_amount: int) -> str:
        """The member confirms an invoice's payment form: a pre_checkout_query update."""
        query_id = str(next(self._query_ids))
        self.checkouts[query_id] = []
        self.push_update(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": self.users[user_id],
                    "currency": currency,
                    "total_amount": total_amount,
                    "invoice_payload": payload,
                }
            }
        )
        return query_id

    def successful_payment(
        self, user_id: int, payload: str, currency: str, total_amount: int, charge: str
    ) -> JSON:
        """Telegram's service message after the payment went through."""
        chat = self._ensure_chat(user_id, user_id)
        message = self._new_message(chat, self.users[user_id])
        message["successful_payment"] = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": f"tg-{charge}",
            "provider_payment_charge_id": f"prov-{charge}",
        }
        self.push_update({"message": _public(message)})
        return copy.deepcopy(message)

    def _send_invoice(self, params: JSON) -> JSON:
        """sendInvoice, checked the way Telegram checks it (private chats here)."""
        chat = self._writable_chat(params.get("chat_id"))
        title, description = params.get("title"), params.get("description")
        payload, currency = params.get("payload"), params.get("currency")
        prices = params.get("prices")
        if not isinstance(title, str) or not 1 <= len(title) <= 32:
            raise ApiError(400, "Bad Request: INVOICE_TITLE_EMPTY or too long")
        if not isinstance(description, str) or not 1 <= len(description) <= 255:
            raise ApiError(400, "Bad Request: INVOICE_DESCRIPTION_EMPTY or too long")
        if not isinstance(payload, str) or not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ApiError(400, "Bad Request: CURRENCY_INVALID")
        if not isinstance(params.get("provider_token"), str) or not params["provider_token"]:
            raise ApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
        if (
            not isinstance(prices, list)
            or not prices
            or not all(
                isinstance(p, dict)
                and isinstance(p.get("label"), str)
                and isinstance(p.get("amount"), int)
                and not isinstance(p.get("amount"), bool)
                for p in prices
            )
        ):
            raise ApiError(400, "Bad Request: can't parse prices JSON object")
        total = sum(p["amount"] for p in prices)
        if total <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        photo_url = params.get("photo_url")
        if photo_url is not None and not str(photo_url).startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: wrong photo_url: not an HTTP URL")
        message = self._new_message(chat, self.bot_user)
        message["invoice"] = {
            "title": title,
            "description": description,
            "currency": currency,
            "total_amount": total,
            "start_parameter": params.get("start_parameter", ""),
        }
        # What Telegram keeps to itself, for the tests.
        message["invoice_sent"] = {
            **message["invoice"],
            "payload": payload,
            "prices": prices,
            "provider_token": params["provider_token"],
            "photo_url": photo_url,
        }
        return self._finish_send(message, self._inline_markup(params), None)

    def _answer_pre_checkout_query(self, params: JSON) -> bool:
        """answerPreCheckoutQuery: ok, or not ok with an error_message for the member."""
        query_id = str(params.get("pre_checkout_query_id", ""))
        if query_id not in self.checkouts:
            raise ApiError(400, QUERY_INVALID)
        ok = params.get("ok")
        if not isinstance(ok, bool):
            raise ApiError(400, "Bad Request: ok must be a boolean")
        if not ok and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        answered = bool(self.checkouts[query_id])
        self.checkouts[query_id].append({"ok": ok, "error_message": params.get("error_message")})
        if answered:
            raise ApiError(400, QUERY_INVALID)
        return True

    def _command_entities(self, text: str) -> list[JSON]:
        """A bot_command entity for a command at the start of text, as Telegram adds."""
        match = _COMMAND.match(text)
        if match is None:
            return []
        return [{"offset": 0, "length": utf16_len(match.group(0)), "type": "bot_command"}]

    def _attach_reply(self, message: JSON, chat_id: int, reply_to: int | None) -> None:
        """Make message a reply to an earlier one of the same chat."""
        if reply_to is None:
            return
        target = self._live_message(chat_id, reply_to)
        if target is None:
            raise KeyError(f"no message {reply_to} in chat {chat_id} to reply to")
        message["reply_to_message"] = {
            k: v for k, v in _public(target).items() if k != "reply_to_message"
        }

    # ------------------------------------------------------------------------- inspection

    def calls(self, method: str | None = None, **match: Any) -> list[Recorded]:
        """Recorded requests of a method (any if None) whose params contain match."""
        name = self._canonical(method) if method else None
        return [
            r
            for r in self.requests
            if (name is None or r.method == name) and _matches(r.params, match)
        ]

    def messages(self, chat_id: int) -> list[JSON]:
        """Copies of the chat's live (not deleted) messages, bot's and users', in order."""
        stored = self._messages.get(chat_id, {})
        return [
            copy.deepcopy(stored[message_id])
            for message_id in sorted(stored)
            if not stored[message_id].get("deleted")
        ]

    def bot_messages(self, chat_id: int) -> list[JSON]:
        """Copies of the bot's live messages in a chat, in order."""
        return [m for m in self.messages(chat_id) if m["from"]["id"] == self.bot_id]

    def message(self, chat_id: int, message_id: int) -> JSON:
        """A copy of a message's current state; deleted messages have ``deleted: True``."""
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            known = list(self._messages.get(chat_id, {}))
            raise KeyError(f"no message {message_id} in chat {chat_id} (known ids: {known})")
        return copy.deepcopy(message)

    def buttons(self, chat_id: int, message_id: int) -> list[tuple[str, str | None]]:
        """The message's inline buttons, flattened: (text, callback_data or url, or a web
        app's url, or the query a switch_inline_query button starts)."""
        markup = self.message(chat_id, message_id).get("reply_markup") or {}
        return [
            (
                button.get("text", ""),
                button.get("callback_data", button.get("url", web_app))
                or button.get("switch_inline_query"),
            )
            for row in markup.get("inline_keyboard", [])
            for button in row
            for web_app in [button.get("web_app", {}).get("url")]
        ]

    def documents(self, chat_id: int) -> list[JSON]:
        """Documents the bot sent to a chat: message_id, file_name, mime_type, data, caption."""
        found = []
        for message in self._messages.get(chat_id, {}).values():
            document = message.get("document")
            if document is None or message["from"]["id"] != self.bot_id:
                continue
            upload = self.uploads.get(document["file_id"])
            found.append(
                {
                    "message_id": message["message_id"],
                    "file_id": document["file_id"],
                    "file_name": document.get("file_name"),
                    "mime_type": document.get("mime_type"),
                    "data": upload.data if upload else None,
                    "caption": message.get("caption"),
                }
            )
        return found

    # ---------------------------------------------------------------------------- waiting

    async def wait_for(
        self,
        method: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - the helper API tests were written against
        *,
        since: int | None = None,
        where: Callable[[Recorded], bool] | None = None,
        **match: Any,
    ) -> Recorded:
        """The first request of method recorded from index since (default: now) that matches."""
        name = self._canonical(method)
        start = len(self.requests) if since is None else since

        def wanted(record: Recorded) -> bool:
            return (
                record.method == name
                and _matches(record.params, match)
                and (where is None or where(record))
            )

        for record in self.requests[start:]:
            if wanted(record):
                return record
        future: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        key = next(self._waiter_ids)
        self._waiters[key] = (wanted, future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = [f"{r.method}({r.params}) -> {r.status}" for r in self.requests[start:]][-8:]
            raise AssertionError(
                f"no {name} matching {match}{' and where=' if where else ''} within {timeout}s; "
                f"last requests since #{start}: {seen}"
            ) from None
        finally:
            self._waiters.pop(key, None)

    async def wait_answer(self, query_id: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """The params of the first answerCallbackQuery for a query, waiting for it."""
        answers = self.answers.get(query_id)
        if answers:
            return answers[0]
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._answer_waiters.setdefault(query_id, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            state = "unknown query id" if query_id not in self._queries else "never answered"
            answered = sum(1 for a in self.answers.values() if a)
            raise AssertionError(
                f"callback query {query_id} {state} within {timeout}s "
                f"({answered}/{len(self.answers)} queries answered; "
                f"{len(self.requests)} requests recorded)"
            ) from None
        finally:
            waiters = self._answer_waiters.get(query_id)
            if waiters and future in waiters:
                waiters.remove(future)

    async def wait_until(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,  # noqa: ASYNC109
        interval: float = 0.01,
    ) -> Any:
        """Poll a sync predicate until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise AssertionError(f"condition {name} not met within {timeout}s")
            await asyncio.sleep(interval)

    # -------------------------------------------------------------------- fault injection

    def flood(self, n: int, retry_after: int = 1, methods: Iterable[str] | None = None) -> None:
        """Fail the next n requests of the flood methods with 429 and retry_after."""
        chosen = frozenset(self._canonical(m) for m in methods) if methods else None
        self._flood = _Fault(n, chosen, 429, retry_after) if n > 0 else None

    def fail(self, n: int, status: int = 502, methods: Iterable[str] | None = None) -> None:
        """Fail the next n requests (of any method, or of methods) with an HTTP status."""
        chosen = frozenset(self._canonical(m) for m in methods) if methods else None
        self._fail = _Fault(n, chosen, status) if n > 0 else None

    def delay(self, seconds: float, methods: Iterable[str] | None = None) -> None:
        """Hold every reply (or those of methods) for seconds after processing; 0 turns off."""
        self._delay = seconds
        self._delay_methods = frozenset(self._canonical(m) for m in methods) if methods else None

    def _inject_faults(self, method: str, params: JSON) -> None:
        """Raise the injected failure due for this request, if any."""
        fault = self._fail
        if fault is not None and (fault.methods is None or method in fault.methods):
            fault.left -= 1
            if fault.left <= 0:
                self._fail = None
            try:
                phrase = HTTPStatus(fault.status).phrase
            except ValueError:
                phrase = "Error"
            raise ApiError(fault.status, phrase)
        fault = self._flood
        methods = fault.methods if fault is not None and fault.methods else self.flood_methods
        if fault is not None and method in methods:
            fault.left -= 1
            if fault.left <= 0:
                self._flood = None
            raise self._too_many(fault.retry_after)
        limit = self.limit_per_group_per_minute
        chat_id = params.get("chat_id")
        if limit is not None and isinstance(chat_id, int) and chat_id < 0:
            if method in self.flood_methods:
                now = time.monotonic()
                window = self._group_sends.setdefault(chat_id, deque())
                while window and window[0] <= now - 60:
                    window.popleft()
                if len(window) >= limit:
                    raise self._too_many(max(1, math.ceil(window[0] + 60 - now)))

    @staticmethod
    def _too_many(retry_after: int) -> ApiError:
        """A 429 flood-control error."""
        return ApiError(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    # -------------------------------------------------------------------------- HTTP layer

    def _canonical(self, method: str) -> str:
        """The Bot API spelling of a method name (Telegram ignores case)."""
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    async def _handle(self, request: web.Request) -> web.Response:
        """Answer one HTTP request in the Bot API envelope."""
        at = time.monotonic()
        path = request.path
        if not path.startswith("/bot"):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if self.only_from is not None and request.remote != self.only_from:
            self.refused_peers += 1
            description = f"Forbidden: a request from {request.remote}"
            return self._reply(403, {"ok": False, "error_code": 403, "description": description})
        token, _, raw_method = path[4:].partition("/")
        method = self._canonical(raw_method)
        params = await self._read_params(request)
        record = Recorded(method, params, at)
        result: Any
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if not raw_method:
                raise ApiError(404, "Not Found")
            self._inject_faults(method, params)
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                entry = self._handlers.get(method.lower())
                result = entry[1](params) if entry else True
        except ApiError as error:
            record.status = error.status
            record.description = error.description
            body: JSON = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
        else:
            record.result = result
            body = {"ok": True, "result": result}
            self._count_group_send(method, params)
        self._record(record)
        if self._delay > 0 and (self._delay_methods is None or method in self._delay_methods):
            await self._sleep(self._delay)
        return self._reply(record.status, body)

    @staticmethod
    def _reply(status: int, body: JSON) -> web.Response:
        """A JSON response."""
        return web.Response(
            status=status,
            body=json.dumps(body, separators=(",", ":")).encode(),
            content_type="application/json",
        )

    async def _read_params(self, request: web.Request) -> JSON:
        """Parameters from the query string and a form, multipart or JSON body."""
        params: JSON = {key: _coerce(key, value) for key, value in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update({key: _coerce(key, value) for key, value in body.items()})
            return params
        form = await request.post()
        parts: dict[str, Upload] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                upload = Upload(key, value.filename, value.file.read(), value.content_type)
                parts[key] = upload
                params[key] = upload
            elif key not in params:
                params[key] = _coerce(key, value)
        # Files may also be referenced as attach://<part name> from another field.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = parts.get(value.removeprefix("attach://"), value)
        return params

    def _record(self, record: Recorded) -> None:
        """Append a request and resolve the waiters it satisfies."""
        self.requests.append(record)
        for key, (wanted, future) in list(self._waiters.items()):
            if not future.done() and wanted(record):
                future.set_result(record)
                del self._waiters[key]

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            pass

    def _count_group_send(self, method: str, params: JSON) -> None:
        """Remember a successful send to a group for the per-group rate model."""
        chat_id = params.get("chat_id")
        if (
            self.limit_per_group_per_minute is not None
            and method in self.flood_methods
            and isinstance(chat_id, int)
            and chat_id < 0
        ):
            self._group_sends.setdefault(chat_id, deque()).append(time.monotonic())

    # -------------------------------------------------------------------------- polling

    def _wake_pollers(self) -> None:
        """Wake every waiting getUpdates so it re-checks the queue."""
        self._signal.set()
        self._signal = asyncio.Event()

    def _confirm(self, offset: int) -> None:
        """Drop updates below offset (negative: keep only the last -offset)."""
        if offset < 0:
            keep = -offset
            while len(self._queue) > keep:
                self._queue.popleft()
            return
        self._queue = deque(
            q for q in self._queue if q.update_id >= offset or (q.forced and not q.delivered)
        )

    def _take(self, limit: int) -> list[JSON]:
        """Up to limit deliverable updates, oldest first."""
        batch: list[JSON] = []
        allowed = self._allowed_updates
        for queued in self._queue:
            if len(batch) >= limit:
                break
            if allowed is not None and not allowed.intersection(queued.update):
                continue
            if queued.forced:
                if queued.delivered:
                    continue
                queued.delivered = True
            batch.append(queued.update)
        return batch

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Long polling: queued updates, or wait up to timeout for some."""
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        offset = params.get("offset")
        if isinstance(offset, int) and offset != 0:
            self._confirm(offset)
        limit = params.get("limit", 100)
        limit = min(max(limit if isinstance(limit, int) else 100, 1), 100)
        timeout = params.get("timeout", 0)
        timeout = float(timeout) if isinstance(timeout, int | float) else 0.0
        self._poll_generation += 1
        generation = self._poll_generation
        if self.conflict_on_parallel_polls:
            self._wake_pollers()
        deadline = time.monotonic() + timeout
        while True:
            if self._closing:
                return []
            if self.conflict_on_parallel_polls and generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            batch = self._take(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            signal = self._signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                pass

    # ----------------------------------------------------------------------- bot methods

    @staticmethod
    def _true(params: JSON) -> bool:
        """Methods that only acknowledge."""
        return True

    def _get_me(self, params: JSON) -> JSON:
        """getMe: the bot's User with its capabilities."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.inline_mode,
        }

    def _set_webhook(self, params: JSON) -> bool:
        """setWebhook: remember the URL (getUpdates then conflicts, as on Telegram)."""
        self.webhook_url = str(params.get("url", ""))
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        """deleteWebhook, optionally dropping pending updates."""
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        """getWebhookInfo: the webhook URL and queue length."""
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }

    @staticmethod
    def _menu_key(params: JSON) -> tuple[str, str]:
        """A menu's scope and language; Telegram takes a two-letter ISO 639-1 code only."""
        code = params.get("language_code") or ""
        if code and not re.fullmatch(r"[a-z]{2}", str(code)):
            raise ApiError(400, "Bad Request: invalid language code specified")
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(code)

    def _set_my_commands(self, params: JSON) -> bool:
        """setMyCommands: remember the command list for its scope and language."""
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100")
        for command in commands:
            about = str(command.get("description", ""))
            if not 1 <= len(about) <= 256:
                raise ApiError(400, "Bad Request: command description must be 1-256 characters")
        self.menus[self._menu_key(params)] = commands
        return True

    def _set_chat_menu_button(self, params: JSON) -> bool:
        """setChatMenuButton: a private chat's menu button, or (no chat_id) the default;
        a web_app one needs its text and an HTTPS url, as Telegram requires."""
        button = params.get("menu_button") or {"type": "default"}
        kind = button.get("type")
        if kind not in ("commands", "web_app", "default"):
            raise ApiError(400, "Bad Request: unsupported menu button type")
        if kind == "web_app":
            url = str((button.get("web_app") or {}).get("url", ""))
            if not button.get("text") or not url.startswith("https://"):
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        chat_id = params.get("chat_id")
        self.menu_buttons[None if chat_id is None else int(chat_id)] = button
        return True

    def _delete_my_commands(self, params: JSON) -> bool:
        """deleteMyCommands: forget the command list of a scope and language."""
        self.menus.pop(self._menu_key(params), None)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        """getMyCommands: the command list last set for the scope and language."""
        return list(self.menus.get(self._menu_key(params), []))

    def menu(self, scope: JSON, language_code: str = "") -> list[str]:
        """The command names a scope shows in a language (for tests)."""
        key = (json.dumps(scope, sort_keys=True), language_code)
        return [str(command["command"]) for command in self.menus.get(key, [])]

    def _send_message(self, params: JSON) -> JSON:
        """sendMessage."""
        chat = self._writable_chat(params.get("chat_id"))
        text, entities, html = self._formatted(params, "text", "entities", TEXT_LIMIT)
        markup = self._inline_markup(params)
        reply = self._reply_target(chat["id"], params)
        message = self._new_message(chat, self.bot_user)
        message["text"] = text
        if entities:
            message["entities"] = entities
        message["html"] = html
        return self._finish_send(message, markup, reply)

    def _send_photo(self, params: JSON) -> JSON:
        """sendPhoto, from an upload or a file_id/URL string."""
        chat = self._writable_chat(params.get("chat_id"))
        photo = params.get("photo")
        if photo is None or photo == "":
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption, entities, html = self._formatted(
            params, "caption", "caption_entities", CAPTION_LIMIT
        )
        markup = self._inline_markup(params)
        reply = self._reply_target(chat["id"], params)
        if isinstance(photo, Upload):
            file_id = self._new_file_id("photo")
            self.uploads[file_id] = photo
        else:
            file_id = str(photo)
        message = self._new_message(chat, self.bot_user)
        message["photo"] = self._photo_sizes(file_id)
        self._set_caption(message, caption, entities, html)
        return self._finish_send(message, markup, reply)

    def _send_document(self, params: JSON) -> JSON:
        """sendDocument, from an upload or a file_id/URL string."""
        chat = self._writable_chat(params.get("chat_id"))
        document = params.get("document")
        if document is None or document == "":
            raise ApiError(400, "Bad Request: there is no document in the request")
        caption, entities, html = self._formatted(
            params, "caption", "caption_entities", CAPTION_LIMIT
        )
        markup = self._inline_markup(params)
        reply = self._reply_target(chat["id"], params)
        if isinstance(document, Upload):
            file_id = self._new_file_id("document")
            self.uploads[file_id] = document
            name = document.filename or "document"
            mime = document.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            size = len(document.data)
        else:
            file_id = str(document)
            known = self.uploads.get(file_id)
            name = (known.filename if known else None) or "document"
            mime = (known.content_type if known else None) or "application/octet-stream"
            size = len(known.data) if known else 0
        message = self._new_message(chat, self.bot_user)
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": size,
        }
        self._set_caption(message, caption, entities, html)
        return self._finish_send(message, markup, reply)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        """editMessageText of a bot text message (or, by inline_message_id, of a text
        message sent through the bot: True then)."""
        inline = bool(params.get("inline_message_id"))
        message = self._inline_editable(params) if inline else self._editable(params)
        if "text" not in message:
            raise ApiError(400, NO_TEXT_TO_EDIT)
        text, entities, html = self._formatted(params, "text", "entities", TEXT_LIMIT)
        markup = self._inline_markup(params)
        if (
            text == message["text"]
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message["html"] = html
        edited = self._finish_edit(message, markup)
        return True if inline else edited

    def _edit_message_caption(self, params: JSON) -> JSON | bool:
        """editMessageCaption of a bot media message (or, by inline_message_id, of one sent
        through the bot: True then)."""
        inline = bool(params.get("inline_message_id"))
        message = self._inline_editable(params) if inline else self._editable(params)
        if "text" in message:
            raise ApiError(400, NO_CAPTION_TO_EDIT)
        caption, entities, html = self._formatted(
            params, "caption", "caption_entities", CAPTION_LIMIT
        )
        markup = self._inline_markup(params)
        if (
            caption == message.get("caption", "")
            and entities == message.get("caption_entities", [])
            and markup == message.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        self._set_caption(message, caption, entities, html)
        edited = self._finish_edit(message, markup)
        return True if inline else edited

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        """editMessageReplyMarkup of any bot message (or, by inline_message_id, of one
        sent through the bot: True then)."""
        inline = bool(params.get("inline_message_id"))
        message = self._inline_editable(params) if inline else self._editable(params)
        markup = self._inline_markup(params)
        if markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        edited = self._finish_edit(message, markup)
        return True if inline else edited

    def _delete_message(self, params: JSON) -> bool:
        """deleteMessage: bot messages, or others' where the bot may delete."""
        chat = self._writable_chat(params.get("chat_id"))
        message = self._live_message(chat["id"], params.get("message_id"))
        if message is None:
            raise ApiError(400, DELETE_NOT_FOUND)
        foreign = message["from"]["id"] != self.bot_id
        if foreign and chat["id"] < 0 and not self._bot_can_delete(chat["id"]):
            raise ApiError(400, CANT_BE_DELETED)
        message["deleted"] = True
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        """answerCallbackQuery: once per query, every attempt recorded."""
        query_id = str(params.get("callback_query_id", ""))
        query = self._queries.get(query_id)
        if query is None:
            raise ApiError(400, QUERY_INVALID)
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")  # Telegram shows 200 at most
        answer = {k: v for k, v in params.items() if k != "callback_query_id"}
        answer.setdefault("text", None)
        answer.setdefault("show_alert", False)
        self.answers[query_id].append(answer)
        ttl = self.callback_query_ttl
        expired = ttl is not None and time.monotonic() - query.created > ttl
        if query.answered or expired:
            raise ApiError(400, QUERY_INVALID)
        query.answered = True
        for future in self._answer_waiters.pop(query_id, []):
            if not future.done():
                future.set_result(answer)
        return True

    def _get_chat(self, params: JSON) -> JSON:
        """getChat: the chat as a ChatFullInfo."""
        chat = self._known_chat(params.get("chat_id"))
        full: JSON = {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return full

    def _get_chat_member(self, params: JSON) -> JSON:
        """getChatMember: the user's status and rights in the chat."""
        chat = self._known_chat(params.get("chat_id"))
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise ApiError(400, "Bad Request: invalid user_id specified")
        if user_id != self.bot_id and user_id not in self.users:
            raise ApiError(400, USER_NOT_FOUND)
        return self._member(chat["id"], user_id)

    def _get_chat_administrators(self, params: JSON) -> list[JSON]:
        """getChatAdministrators: the creator, then the administrators."""
        chat = self._known_chat(params.get("chat_id"))
        chat_id = chat["id"]
        ids: list[int] = []
        if chat_id in self.chat_creators:
            ids.append(self.chat_creators[chat_id])
        ids += sorted(self.chat_admins.get(chat_id, set()) - set(ids))
        return [self._member(chat_id, user_id) for user_id in ids]

    def _get_chat_member_count(self, params: JSON) -> int:
        """getChatMemberCount: everyone known in the chat, bot included."""
        chat = self._known_chat(params.get("chat_id"))
        chat_id = chat["id"]
        if chat_id > 0:
            return 2
        people = set(self.chat_members.get(chat_id, set())) | self.chat_admins.get(chat_id, set())
        people.add(self.bot_id)
        if chat_id in self.chat_creators:
            people.add(self.chat_creators[chat_id])
        return len(people)

    def _pin(self, params: JSON) -> bool:
        """pinChatMessage: in a group, only a bot that is an administrator allowed to pin."""
        chat_id = self._pinnable_chat(params)
        message_id = params.get("message_id")
        if self._live_message(chat_id, message_id) is None:
            raise ApiError(400, PIN_NOT_FOUND)
        pins = self.pinned.setdefault(chat_id, [])
        if message_id in pins:
            pins.remove(message_id)
        pins.append(message_id)
        return True

    def _unpin(self, params: JSON) -> bool:
        """unpinChatMessage: the message given, else the most recently pinned one."""
        chat_id = self._pinnable_chat(params)
        pins = self.pinned.setdefault(chat_id, [])
        message_id = params.get("message_id", pins[-1] if pins else None)
        if self._live_message(chat_id, message_id) is None:
            raise ApiError(400, UNPIN_NOT_FOUND)
        if message_id in pins:
            pins.remove(message_id)
        return True

    def _pinnable_chat(self, params: JSON) -> int:
        """The id of a chat the bot may pin in, or the error Telegram gives."""
        chat = self._writable_chat(params.get("chat_id"))
        chat_id = int(chat["id"])
        if chat_id < 0 and not self._bot_may("can_pin_messages", chat_id):
            raise ApiError(400, PIN_NO_RIGHTS)
        return chat_id

    # ---------------------------------------------------------------------- method helpers

    def _resolve_chat_id(self, raw: Any) -> int:
        """The numeric id of a chat_id parameter (int or @username)."""
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.chats.values():
                if chat.get("username", "").lower() == raw[1:].lower():
                    return int(chat["id"])
        raise ApiError(400, CHAT_NOT_FOUND)

    def _known_chat(self, raw: Any) -> JSON:
        """A registered chat, or 400 chat not found."""
        chat = self.chats.get(self._resolve_chat_id(raw))
        if chat is None:
            raise ApiError(400, CHAT_NOT_FOUND)
        return chat

    def _writable_chat(self, raw: Any) -> JSON:
        """A chat the bot may write to, or the error Telegram gives for it."""
        chat_id = self._resolve_chat_id(raw)
        if chat_id > 0:
            if chat_id in self.blocked_users:
                raise ApiError(403, BLOCKED)
            if chat_id not in self.started_users:
                if chat_id in self.users:
                    raise ApiError(403, CANT_INITIATE)
                raise ApiError(400, CHAT_NOT_FOUND)
            if chat_id not in self.chats:
                self.user(chat_id)
            return self.chats[chat_id]
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, CHAT_NOT_FOUND)
        if chat_id in self.chats_without_bot:
            raise ApiError(403, NOT_A_MEMBER)
        if chat_id in self.kicked_chats:
            kind = "group" if chat["type"] == "group" else chat["type"]
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        return chat

    def _formatted(
        self, params: JSON, key: str, entities_key: str, limit: int
    ) -> tuple[str, list[JSON], str | None]:
        """Visible text, entities and raw HTML of a text or caption parameter, validated."""
        raw = params.get(key)
        raw = "" if raw is None else str(raw)
        entities = params.get(entities_key)
        html = None
        if isinstance(entities, list):
            text = raw
        else:
            entities = []
            text = raw
            mode = str(params.get("parse_mode") or "").lower()
            if mode == "html":
                html = raw
                try:
                    text, entities = parse_html(raw, self.users)
                except HtmlError as error:
                    raise ApiError(400, CANT_PARSE + str(error)) from None
        is_text = key in ("text", "message_text")
        if is_text and not text.strip():
            raise ApiError(400, TEXT_EMPTY)
        if utf16_len(text) > limit:
            raise ApiError(400, TEXT_TOO_LONG if is_text else CAPTION_TOO_LONG)
        return text, entities, html

    def _inline_markup(self, params: JSON) -> JSON | None:
        """The inline keyboard of reply_markup (None if absent or empty), validated."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list):
            raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, BUTTON_DATA_INVALID)
                if "switch_inline_query" in button and not self.inline_mode:
                    raise ApiError(400, "Bad Request: BOT_INLINE_DISABLED")
        return markup if any(rows) else None

    def _reply_target(self, chat_id: int, params: JSON) -> JSON | None:
        """The message a send replies to, or 400 if it is gone and that is not allowed."""
        parameters = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        if isinstance(parameters, dict):
            message_id = parameters.get("message_id")
            allow = bool(parameters.get("allow_sending_without_reply", allow))
        else:
            message_id = params.get("reply_to_message_id")
        if message_id is None:
            return None
        target = self._live_message(chat_id, message_id)
        if target is None:
            if allow:
                return None
            raise ApiError(400, REPLY_NOT_FOUND)
        return {k: v for k, v in _public(target).items() if k != "reply_to_message"}

    def _new_message(self, chat: JSON, sender: JSON) -> JSON:
        """A stored message with the chat's next id."""
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message: JSON = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": dict(chat),
            "from": dict(sender),
            "html": None,
        }
        self._messages.setdefault(chat_id, {})[message_id] = message
        return message

    def _finish_send(self, message: JSON, markup: JSON | None, reply: JSON | None) -> JSON:
        """Attach markup and reply to a new bot message; returns its public form."""
        if markup is not None:
            message["reply_markup"] = markup
        if reply is not None:
            message["reply_to_message"] = reply
        return _public(message)

    @staticmethod
    def _finish_edit(message: JSON, markup: JSON | None) -> JSON:
        """Apply the edit's markup (absent means removed); returns the public message."""
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return _public(message)

    @staticmethod
    def _set_caption(message: JSON, caption: str, entities: list[JSON], html: str | None) -> None:
        """Replace a media message's caption (empty removes it)."""
        message.pop("caption", None)
        message.pop("caption_entities", None)
        if caption:
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        message["html"] = html

    def _editable(self, params: JSON) -> JSON:
        """The bot message an edit targets, or the error Telegram gives."""
        chat = self._writable_chat(params.get("chat_id"))
        message = self._live_message(chat["id"], params.get("message_id"))
        if message is None:
            raise ApiError(400, EDIT_NOT_FOUND)
        if message["from"]["id"] != self.bot_id:
            raise ApiError(400, CANT_BE_EDITED)
        return message

    def _live_message(self, chat_id: int, message_id: Any) -> JSON | None:
        """A stored, not deleted message."""
        if not isinstance(message_id, int):
            return None
        message = self._messages.get(chat_id, {}).get(message_id)
        return None if message is None or message.get("deleted") else message

    def _bot_can_delete(self, chat_id: int) -> bool:
        """Whether the bot is an admin allowed to delete others' messages."""
        return self._bot_may("can_delete_messages", chat_id)

    def _bot_may(self, right: str, chat_id: int) -> bool:
        """Whether the bot is an administrator of the chat with this right."""
        if self.bot_id not in self.chat_admins.get(chat_id, set()):
            return False
        rights = {**_ADMIN_RIGHTS, **self.admin_rights.get((chat_id, self.bot_id), {})}
        return bool(rights[right])

    def _member(self, chat_id: int, user_id: int) -> JSON:
        """A ChatMember dict for a user in a chat."""
        user = self.bot_user if user_id == self.bot_id else self.users[user_id]
        if chat_id > 0:
            return {"status": "member", "user": user}
        if self.chat_creators.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self.chat_admins.get(chat_id, set()):
            rights = {**_ADMIN_RIGHTS, **self.admin_rights.get((chat_id, user_id), {})}
            return {"status": "administrator", "user": user, **rights}
        if user_id == self.bot_id or user_id in self.chat_members.get(chat_id, set()):
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}

    def _new_file_id(self, kind: str) -> str:
        """A fresh, unique file_id."""
        return f"fake-{kind}-{next(self._file_ids)}"

    @staticmethod
    def _photo_sizes(file_id: str) -> list[JSON]:
        """PhotoSize dicts for a photo, the largest carrying file_id itself."""
        sizes = [(90, 90, f"{file_id}-s"), (320, 320, f"{file_id}-m"), (800, 800, file_id)]
        return [
            {
                "file_id": size_id,
                "file_unique_id": f"u-{size_id}",
                "width": width,
                "height": height,
                "file_size": width * height // 10,
            }
            for width, height, size_id in sizes
        ]
