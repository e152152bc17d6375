"""Shared fixtures: a fake Bot API on 127.0.0.1 and the real bot pointed at it."""

from __future__ import annotations

import html
import itertools
import json
import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from init_data_py import sign

from bot.app import Runtime, build_application
from bot.clock import Clock
from bot.config import Settings
from bot.services.deals import GroupBuy
from storage import engines
from storage.engines import PostgresEngine, SqliteEngine
from storage.store import Store
from tests.fakeapi import FakeBotAPI

TOKEN = "123456:TEST-TOKEN"
# The payment provider's token (Telegram Payments): as secret as the bot's.
PROVIDER_TOKEN = "284685063:TEST:provider-secret-42"
GROUP_ID = -1001234567890

_user_ids = itertools.count(2001)


POSTGRES_URL = os.environ.get("GROUPBUY_TEST_POSTGRES_URL", "")
ROOT = Path(__file__).resolve().parent.parent
# Every story runs on the embedded SQLite store, and on PostgreSQL too when a server is
# given: the product must behave the same on both.
STORES = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def settings_for(
    api: FakeBotAPI, db: Path, store: str = "sqlite", schema: str = "", **overrides: Any
) -> Settings:
    """Settings that point the bot at the fake API, with fast card edits."""
    telegram = {
        "token": TOKEN,
        "base_url": api.base_url,
        "poll_timeout": 1,
        "card_edit_interval": 0.2,
        "flood_control": True,
        # Stories post more than 20 messages a minute in one group; the flood tests
        # use the real limits.
        "group_messages_per_minute": 6000,
    } | overrides.pop("telegram", {})
    storage: dict[str, Any] = {"path": db}
    if store == "postgres":
        storage |= {"url": POSTGRES_URL, "schema_name": schema}
    # Stories send commands far faster than people would; the throttle tests use the
    # real budgets.
    limits = {
        "member_commands": 1000,
        "private_commands": 1000,
        "group_commands": 1000,
        "taps_per_second": 1000,
    }
    return Settings(
        telegram=telegram,
        storage=storage,
        timezone="Asia/Shanghai",
        limits=limits | overrides.pop("limits", {}),
        **overrides,
    )


def operator_env(**settings: str) -> dict[str, str]:
    """The environment an operator would run `python -m bot` with: this process's, minus
    any GROUPBUY_* of the developer's, plus the given settings (GROUPBUY_ names)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GROUPBUY_")}
    return clean | {"PYTHONPATH": str(ROOT)} | settings


@contextmanager
def bot_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m bot` in the log's folder, killed at the end if still running."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=log.parent, env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def drop_schema(schema: str) -> None:
    """Remove a test's PostgreSQL schema and everything in it."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


class Person:
    """A Telegram user in the story: says things, taps buttons, reads what the bot sent."""

    def __init__(self, world: World, user: dict[str, Any]) -> None:
        self.world = world
        self.user = user
        self.id: int = user["id"]
        self.name: str = user["first_name"]

    @property
    def api(self) -> FakeBotAPI:
        return self.world.api

    def says(self, text: str, chat_id: int = GROUP_ID) -> dict[str, Any]:
        """Send a message (a command, say) in a chat; the group by default."""
        return self.api.send_text(chat_id, self.id, text)

    async def says_and_hears(self, text: str, chat_id: int = GROUP_ID) -> str:
        """Send a message and return the text of the bot's next message in that chat."""
        since = len(self.api.requests)
        self.says(text, chat_id)
        sent = await self.api.wait_for(
            "sendMessage", since=since, where=lambda r: r.params.get("chat_id") == chat_id
        )
        return self.world.visible(sent.params)

    async def posts(self, form: str, chat_id: int = GROUP_ID) -> int:
        """Post a deal with /deal and return the card's message id."""
        since = len(self.api.requests)
        self.says(f"/deal {form}", chat_id)
        sent = await self.api.wait_for(
            "sendMessage",
            since=since,
            where=lambda r: r.params.get("chat_id") == chat_id and "reply_markup" in r.params,
        )
        assert sent.status == 200, sent
        cards = self.api.bot_messages(chat_id)
        return int(cards[-1]["message_id"])

    async def taps(self, label: str, card: int, chat_id: int = GROUP_ID) -> str:
        """Tap the card's button whose label contains `label`; return the answer's text."""
        return await self.taps_data(card, self.world.button(chat_id, card, label), chat_id)

    async def taps_data(self, card: int, data: str, chat_id: int = GROUP_ID) -> str:
        """Tap a button with this callback data (an old or forged one, say)."""
        query = self.api.tap(chat_id, self.id, card, data)
        answer = await self.api.wait_answer(query)
        return str(answer.get("text", ""))

    def private_texts(self) -> list[str]:
        """What the bot told this person privately."""
        return [m.get("text") or m.get("caption") or "" for m in self.api.bot_messages(self.id)]

    def opens_private_chat(self) -> None:
        """The person starts the bot, so it may message them privately."""
        self.api.started_users.add(self.id)


class World:
    """The fake Bot API, the running bot, a group with its leader, and its members."""

    def __init__(self, api: FakeBotAPI, runtime: Runtime, clock: Clock) -> None:
        self.api = api
        self.runtime = runtime
        self.clock = clock
        self.service: GroupBuy = runtime.service
        creator = api.user(1001, "Lena", username="lena", language_code="en")
        api.group(GROUP_ID, "Mango lovers", creator=creator, admins=[])
        self.leader = Person(self, creator)
        self.console_url = ""  # where the console answers, when it is on

    def member(self, name: str | None = None, *, started: bool = True, lang: str = "en") -> Person:
        """A new group member (who has opened a private chat with the bot, unless told)."""
        uid = next(_user_ids)
        name = name or f"Member{uid}"
        user = self.api.user(uid, name, username=name.lower(), language_code=lang)
        person = Person(self, user)
        if started:
            person.opens_private_chat()
        return person

    def card(self, message_id: int, chat_id: int = GROUP_ID) -> str:
        """The card's current visible text (or caption)."""
        message = self.api.message(chat_id, message_id)
        return str(message.get("text") or message.get("caption") or "")

    def button(self, chat_id: int, message_id: int, label: str) -> str:
        """The callback data of the message's button labelled `label`."""
        for text, data in self.api.buttons(chat_id, message_id):
            if label.lower() in text.lower():
                return str(data)
        raise AssertionError(f"no button {label!r} on message {message_id}")

    def labels(self, message_id: int, chat_id: int = GROUP_ID) -> list[str]:
        """The card's button labels."""
        return [text for text, _ in self.api.buttons(chat_id, message_id)]

    def group_texts(self) -> list[str]:
        """Every message the bot sent to the group, as users see it."""
        return [m.get("text") or m.get("caption") or "" for m in self.api.bot_messages(GROUP_ID)]

    @staticmethod
    def visible(params: dict[str, Any]) -> str:
        """A recorded send's text with HTML tags dropped (roughly what users see)."""
        raw = str(params.get("text") or params.get("caption") or "")
        return html.unescape(re.sub(r"<[^>]+>", "", raw))

    async def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the store directly, on whichever engine it runs (`?` placeholders)."""
        return [tuple(row) for row in await self.service.store.engine.reader.all(sql, *args)]

    async def settle(self) -> None:
        """Let background notifications and card edits finish."""
        await self.service.settle()

    async def pass_time_until(self, local: str, tz: str = "Asia/Shanghai") -> None:
        """Move the clock forward to the next time the group's clock shows `local` (HH:MM)."""
        now = self.clock.now().astimezone(ZoneInfo(tz))
        hours, minutes = (int(part) for part in local.split(":"))
        target = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if target <= now:
            target += timedelta(days=1)
        await self.pass_time((target - now).total_seconds())

    async def pass_time(self, seconds: float) -> None:
        """Move the bot's clock forward and let the timers that fall due run."""
        self.clock.advance(seconds)
        await self.service.deadlines.settled()
        await self.settle()


@pytest.fixture(autouse=True)
def no_token_in_the_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: whatever the bot logged (tracebacks included) never shows the token,
    nor the payment provider's."""
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    traced = logging.Formatter()
    logged = "".join(
        record.getMessage()
        + (record.exc_text or (traced.formatException(record.exc_info) if record.exc_info else ""))
        for record in records
    )
    assert TOKEN not in logged and TOKEN.partition(":")[2] not in logged, "the token leaked"
    assert PROVIDER_TOKEN.partition(":")[2] not in logged, "the provider token leaked"


STORE_CHAT = -100  # the group the `store` fixture knows
STORE_NOW = 1_800_000_000


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store alone, open on each engine, with one group (STORE_CHAT) in it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        opened = Store(PostgresEngine(POSTGRES_URL, schema, pool_size=20))
    else:
        opened = Store(SqliteEngine(tmp_path / "store.db"))
    await opened.open()
    await opened.groups.ensure_group(
        STORE_CHAT, "Group", tz="UTC", currency="CNY", lang="en", now=STORE_NOW
    )
    yield opened
    await opened.close()
    if request.param == "postgres":
        await drop_schema(schema)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, bot_username="groupbuy_test_bot") as fake:
        yield fake


@asynccontextmanager
async def running_world(
    api: FakeBotAPI,
    tmp_path: Path,
    store: str,
    limits: dict[str, Any] | None = None,
    payments: dict[str, Any] | None = None,
    webapp: dict[str, Any] | None = None,
    **telegram: Any,
) -> AsyncIterator[World]:
    """The bot on the given store, started, with a group and its leader; `telegram`
    overrides telegram settings (a proxy, say), `limits` the budgets, `payments` the
    Telegram Payments settings, `webapp` the console's."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    clock = Clock()
    settings = settings_for(
        api,
        tmp_path / "bot.db",
        store,
        schema,
        telegram=telegram,
        limits=limits or {},
        payments=payments or {},
        webapp=webapp or {},
    )
    runtime = Runtime(build_application(settings, clock))
    await runtime.start()
    try:
        yield World(api, runtime, clock)
    finally:
        await runtime.stop()
        if store == "postgres":
            await drop_schema(schema)


@pytest.fixture(params=STORES)
async def world(
    request: pytest.FixtureRequest, api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[World]:
    async with running_world(api, tmp_path, request.param) as running:
        yield running


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_settings(port: int, **more: Any) -> dict[str, Any]:
    """The console on, on 127.0.0.1:port (its public address is never fetched in tests)."""
    return {"enabled": True, "url": "https://console.example/", "port": port} | more


def init_data(world: World, person: Person, age: float = 0, token: str = TOKEN) -> str:
    """The initData Telegram would give `person` opening the console `age` seconds ago
    (by the bot's clock), signed with the bot's token (or another, to forge one)."""
    user = {key: person.user[key] for key in ("id", "first_name", "username", "language_code")}
    issued = world.clock.now().timestamp() - age
    return sign({"user": json.dumps(user)}, token, auth_date=int(issued))


@pytest.fixture(params=STORES)
async def console(
    request: pytest.FixtureRequest, api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[World]:
    """The bot with its console on, on a free port of 127.0.0.1 (`world.console_url`)."""
    port = free_port()
    async with running_world(
        api, tmp_path, request.param, webapp=console_settings(port)
    ) as running:
        running.console_url = f"http://127.0.0.1:{port}"
        yield running


@pytest.fixture(params=STORES)
async def paying(
    request: pytest.FixtureRequest, api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[World]:
    """The bot with a payment provider connected, and the group's invoices on."""
    payments = {"provider_token": PROVIDER_TOKEN}
    async with running_world(api, tmp_path, request.param, payments=payments) as world:
        world.leader.opens_private_chat()
        assert "Saved" in await world.leader.says_and_hears("/settings pay invoice")
        yield world


async def invoice_of(world: World, person: Person) -> dict[str, Any]:
    await world.api.wait_until(lambda: world.api.invoices(person.id))
    return world.api.invoices(person.id)[-1]


async def checkout(world: World, person: Person, invoice: dict[str, Any], **change: Any) -> Any:
    """The member confirms the payment form; Telegram's pre-checkout answer."""
    values = {"currency": invoice["currency"], "total_amount": invoice["total_amount"]} | change
    query = world.api.pre_checkout(person.id, invoice["payload"], **values)
    await world.api.wait_until(lambda: world.api.checkouts[query])
    return world.api.checkouts[query][0]


@pytest.fixture
async def sqlite_world(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[World]:
    """For what only SQLite has: a database file to back up."""
    async with running_world(api, tmp_path, "sqlite") as running:
        yield running


def private_button(world: World, person: Person, label: str) -> tuple[int, str]:
    """The newest private message to `person` with a button containing `label`: its id and
    the button's data."""
    for message in reversed(world.api.bot_messages(person.id)):
        for text, data in world.api.buttons(person.id, message["message_id"]):
            if label in text:
                return message["message_id"], str(data)
    raise AssertionError(f"no private button {label!r} for {person.name}")


def operator_bot_env(
    api: FakeBotAPI, db: Path, clock_offset: int = 0, **settings: str
) -> dict[str, str]:
    """The environment of `python -m bot` run by an operator against the fake API, on the
    SQLite file `db`, its clock `clock_offset` seconds ahead (GROUPBUY_ names added)."""
    return operator_env(
        GROUPBUY_TELEGRAM__TOKEN=TOKEN,
        GROUPBUY_TELEGRAM__BASE_URL=api.base_url,
        GROUPBUY_TELEGRAM__POLL_TIMEOUT="1",
        GROUPBUY_TELEGRAM__CARD_EDIT_INTERVAL="0.2",
        GROUPBUY_STORAGE__PATH=str(db),
        GROUPBUY_CLOCK_OFFSET=str(clock_offset),
        **settings,
    )


@asynccontextmanager
async def store_before(
    version: int, engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Store]:
    """A store migrated only up to `version`, as an older release left it (its migrate()
    then runs the rest); closed, and its PostgreSQL schema dropped, after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    store = Store(
        PostgresEngine(POSTGRES_URL, schema, pool_size=2)
        if engine == "postgres"
        else SqliteEngine(tmp_path / "old.db")
    )
    every = engines.migration_files
    with monkeypatch.context() as patch:  # undone after the open: migrate() takes them all
        patch.setattr(engines, "migration_files", lambda dialect: every(dialect)[:version])
        await store.open()
    try:
        assert await store.schema_version() == version
        yield store
    finally:
        await store.close()
        if engine == "postgres":
            await drop_schema(schema)
