"""Hosting: the operator commands, webhook mode, backups, command menus, help by role."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from telegram import Bot, Message, Update

from bot.app import Runtime, build_application
from bot.clock import Clock
from bot.config import WebhookSettings
from bot.webhook import WebhookServer
from tests.conftest import (
    GROUP_ID,
    ROOT,
    STORES,
    TOKEN,
    World,
    operator_env,
    running_world,
    settings_for,
)
from tests.fakeapi import FakeBotAPI


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot …` as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=operator_env(**(env or {})),
        cwd=cwd or ROOT,
        timeout=60,
    )


def test_check_config_names_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    missing = cli("check-config", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "telegram.token" in missing.stderr and "Traceback" not in missing.stderr

    bad = cli("check-config", env={"GROUPBUY_TELEGRAM__TOKEN": "not-a-token"}, cwd=tmp_path)
    assert bad.returncode == 2 and "does not look like a bot token" in bad.stderr
    assert "not-a-token" not in bad.stderr, "the token is never printed"

    config = tmp_path / "config.toml"
    config.write_text('timezone = "Mars/Olympus"\n[telegram]\ntoken = "1:abc"\n')
    zone = cli("--config", str(config), "check-config", cwd=tmp_path)
    assert zone.returncode == 2 and "setting timezone" in zone.stderr

    config.write_text('[telegram]\ntoken = "1:abc"\n')
    good = cli("--config", str(config), "check-config", cwd=tmp_path)
    assert good.returncode == 0 and "config OK" in good.stdout


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    result = cli("--config", str(ROOT / "config.example.toml"), "check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_migrate_prints_the_schema_version(tmp_path: Path) -> None:
    env = {"GROUPBUY_TELEGRAM__TOKEN": "1:abc", "GROUPBUY_STORAGE__PATH": str(tmp_path / "m.db")}
    first = cli("migrate", env=env, cwd=tmp_path)
    again = cli("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0 and first.stdout.startswith("schema version ")
    assert again.stdout == first.stdout


@pytest.mark.parametrize("command", ["run", "migrate"])
async def test_a_postgresql_server_that_is_down_is_named_not_traced(
    api: FakeBotAPI, tmp_path: Path, command: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
        "GROUPBUY_TELEGRAM__BASE_URL": api.base_url,  # Telegram answers; the store does not
        "GROUPBUY_STORAGE__URL": f"postgresql://postgres@127.0.0.1:{port}/test",
    }
    result = await asyncio.to_thread(cli, command, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach PostgreSQL" in result.stderr and "its URL is right" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_backup_taken_while_the_bot_writes_opens_and_holds_the_data(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    card = await world.leader.posts("Kiwi\nprice: 3\nmin: 50\ndeadline: 2h")
    join = world.button(GROUP_ID, card, "Join")
    queries = [world.api.tap(GROUP_ID, world.member().id, card, join) for _ in range(40)]
    env = {
        "GROUPBUY_TELEGRAM__TOKEN": "1:abc",
        "GROUPBUY_STORAGE__PATH": str(world.service.store.path),
    }
    copy = tmp_path / "copy.db"
    result = await asyncio.to_thread(cli, "backup", str(copy), env=env, cwd=tmp_path)
    await asyncio.gather(*(world.api.wait_answer(q) for q in queries))

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        deals = db.execute("SELECT title FROM deals").fetchall()
        orders, taken = db.execute(
            "SELECT COUNT(*), (SELECT taken FROM deals) FROM orders WHERE status <> 'cancelled'"
        ).fetchone()
    assert deals == [("Kiwi",)]
    assert orders == taken, "the copy is one consistent moment of the live file"
    refused = await asyncio.to_thread(cli, "backup", str(copy), env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "exists" in refused.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def webhook_bot(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[tuple[FakeBotAPI, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = settings_for(
        api,
        tmp_path / "bot.db",
        telegram={
            "webhook": {
                "enabled": True,
                "url": url,
                "listen": "127.0.0.1",
                "port": port,
                "path": "hook",
                "secret_token": "s3cret-token",
            }
        },
    )
    runtime = Runtime(build_application(settings, Clock()))
    await runtime.start()
    try:
        yield api, url
    finally:
        await runtime.stop()


async def test_webhook_mode_takes_updates_with_the_right_secret_only(
    webhook_bot: tuple[FakeBotAPI, str],
) -> None:
    api, url = webhook_bot
    leader = api.user(1001, "Lena")
    api.group(GROUP_ID, "Mango lovers", creator=leader)
    assert api.webhook_url == url, "the bot told Telegram where to post"

    def update(update_id: int, text: str) -> dict[str, object]:
        return {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_800_000_000,
                "chat": api.chats[GROUP_ID],
                "from": leader,
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
            },
        }

    async with aiohttp.ClientSession() as http:
        wrong = await http.post(
            url,
            data=json.dumps(update(1, "/deal Figs\nprice: 2\nmin: 2\ndeadline: 2h")),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "nope"},
        )
        missing = await http.post(
            url,
            data=json.dumps(update(2, "/deal Figs\nprice: 2\nmin: 2\ndeadline: 2h")),
            headers={"Content-Type": "application/json"},
        )
        right = await http.post(
            url,
            data=json.dumps(update(3, "/deal Plums\nprice: 2\nmin: 2\ndeadline: 2h")),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": "s3cret-token",
            },
        )
    assert wrong.status == 403 and missing.status == 403 and right.status == 200
    sent = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=5)
    assert "Plums" in str(sent.params["text"])
    assert not any("Figs" in str(r.params.get("text")) for r in api.requests)


async def test_command_menus_are_set_per_scope_and_language(world: World) -> None:
    calls = world.api.calls("setMyCommands")
    scopes = {(json.dumps(c.params.get("scope")), c.params.get("language_code")) for c in calls}
    # Three scopes, each for everyone (English), Simplified Chinese (zh) and Russian (ru).
    assert len(scopes) == 9, scopes
    assert {code for _, code in scopes} == {None, "zh", "ru"}
    leader_menu = next(
        c
        for c in calls
        if "administrators" in json.dumps(c.params.get("scope"))
        and not c.params.get("language_code")
    )
    member_menu = next(
        c
        for c in calls
        if "all_group_chats" in json.dumps(c.params.get("scope"))
        and not c.params.get("language_code")
    )
    leader_names = {c["command"] for c in leader_menu.params["commands"]}
    member_names = {c["command"] for c in member_menu.params["commands"]}
    assert {"deal", "close", "summary", "settings"} <= leader_names
    assert not {"deal", "close", "summary", "settings", "payout"} & member_names


async def test_help_shows_each_person_the_commands_they_may_use(world: World) -> None:
    leader_help = await world.leader.says_and_hears("/help")
    member_help = await world.member("Ann").says_and_hears("/help")
    assert "/deal" in leader_help and "/summary" in leader_help
    assert (
        "/orders" in member_help and "/deal " not in member_help and "/summary" not in member_help
    )


async def test_a_named_leader_may_post_and_a_removed_one_may_not(world: World) -> None:
    ann = world.member("Ann")
    assert "I don't know the member @ann" in await world.leader.says_and_hears(
        "/settings leaders add @ann"
    )
    await ann.says_and_hears("/deals")  # now the bot has seen her
    await world.settle()  # and stored her: that write goes in the background
    assert "is now a leader" in await world.leader.says_and_hears("/settings leaders add @ann")
    card = await ann.posts("Figs\nprice: 2\nmin: 2\ndeadline: 2h")
    assert card > 0
    assert "no longer a leader" in await world.leader.says_and_hears(
        "/settings leaders remove @ann"
    )
    assert "Only the group's leaders" in await ann.says_and_hears(
        "/deal Figs\nprice: 2\nmin: 2\ndeadline: 2h"
    )


async def test_settings_buttons_change_the_language(world: World) -> None:
    since = len(world.api.requests)
    world.leader.says("/settings")
    sent = await world.api.wait_for("sendMessage", since=since, chat_id=GROUP_ID)
    message_id = sent.result["message_id"]
    chinese = next(d for t, d in world.api.buttons(GROUP_ID, message_id) if "中文" in t)

    stranger = world.member("Mallory")
    refused = await stranger.taps_data(message_id, str(chinese))
    assert "Only the group's leaders" in refused
    answer = await world.leader.taps_data(message_id, str(chinese))
    assert "lang: zh" in answer
    group = await world.service.store.groups.get_group(GROUP_ID)
    assert group is not None and group.lang == "zh-Hans"  # "zh" before the four languages
    await world.settle()
    menu = world.api.menus[(json.dumps({"type": "chat", "chat_id": GROUP_ID}, sort_keys=True), "")]
    assert any(c["command"] == "deals" and "团购" in c["description"] for c in menu), menu


async def test_a_webhook_worker_reads_a_tap_as_polling_does(tmp_path: Path) -> None:
    """The webhook server trims a tapped group card like the getUpdates transport does."""
    queue: asyncio.Queue[Update] = asyncio.Queue()
    app = SimpleNamespace(bot=Bot(TOKEN), update_queue=queue)
    server = WebhookServer(app, WebhookSettings(secret_token=SecretStr("s3cret")))  # type: ignore[arg-type]
    web_app = web.Application()
    web_app.router.add_post("/hook", server.receive)
    tapped_card = {
        "message_id": 7,
        "date": 1_800_000_000,
        "chat": {"id": GROUP_ID, "type": "supergroup", "title": "Mango lovers"},
        "text": "Mangoes",
        "entities": [{"type": "bold", "offset": 0, "length": 7}],
        "reply_markup": {"inline_keyboard": [[{"text": "Join", "callback_data": "v1:join:1"}]]},
    }
    tap = {
        "update_id": 5,
        "callback_query": {
            "id": "q1",
            "from": {"id": 2001, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "c",
            "data": "v1:join:1",
            "message": tapped_card,
        },
    }
    async with TestClient(TestServer(web_app)) as client:
        refused = await client.post("/hook", json=tap)
        taken = await client.post(
            "/hook", json=tap, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        )
        junk = await client.post(
            "/hook", data=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        )

    assert (refused.status, taken.status, junk.status) == (403, 200, 400)
    update = queue.get_nowait()
    assert queue.empty()
    assert update.callback_query is not None and update.callback_query.data == "v1:join:1"
    message = update.callback_query.message
    assert message is not None and message.chat.id == GROUP_ID and message.message_id == 7
    assert isinstance(message, Message) and message.text is None, "cut, as in polling"


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_webhook_mode_without_a_secret_token_refuses_to_start(tmp_path: Path, command: str) -> None:
    env = {
        "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
        "GROUPBUY_TELEGRAM__BASE_URL": "http://127.0.0.1:9/bot",  # never reached
        "GROUPBUY_TELEGRAM__WEBHOOK__ENABLED": "true",
        "GROUPBUY_TELEGRAM__WEBHOOK__URL": "https://bot.example/hook",
    }
    result = cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "telegram.webhook.secret_token" in result.stderr
    assert "GROUPBUY_TELEGRAM__WEBHOOK__SECRET_TOKEN" in result.stderr
    assert not (tmp_path / "groupbuy.db").exists(), "nothing started"


@pytest.mark.parametrize("answer", ["401", "404"])
async def test_a_refused_token_is_named_but_never_printed(
    api: FakeBotAPI, tmp_path: Path, answer: str
) -> None:
    token = "987654:NEVER-PRINT-ME_abc"  # not the fake API's: getMe answers 401
    base_url = api.base_url if answer == "401" else api.base_url.removesuffix("/bot") + "/wrong"
    env = {
        "GROUPBUY_TELEGRAM__TOKEN": token,
        "GROUPBUY_TELEGRAM__BASE_URL": base_url,
        "GROUPBUY_TELEGRAM__PROXY": "",
        "GROUPBUY_LOG_LEVEL": "DEBUG",
    }
    result = await asyncio.to_thread(cli, "run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    for secret in (token, token.split(":")[1], "NEVER-PRINT-ME"):
        assert secret not in output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("groupbuy-bot: cannot start: Telegram refused the token")
    assert "check telegram.token" in last and "Traceback" not in result.stderr


@pytest.mark.parametrize("store", STORES)
async def test_a_whole_story_logged_at_debug_never_shows_the_token(
    api: FakeBotAPI, tmp_path: Path, store: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # before the bot is built: PTB logs its URL then
    async with running_world(api, tmp_path, store) as world:
        world.leader.opens_private_chat()
        card = await world.leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 2h")
        for name in ("Ann", "Bo"):
            await world.member(name).taps("Join", card)
        api.fail(2, status=500, methods=["sendMessage"])  # errors get logged too
        await world.leader.says_and_hears("/orders 1")
        await world.leader.says_and_hears("/export")
        await world.settle()
    assert len(caplog.records) > 100, "PTB and aiohttp logged every request"
    secret = TOKEN.split(":")[1]
    for record in caplog.records:
        assert secret not in record.getMessage(), record.name
        assert secret not in (record.exc_text or "")
    assert secret not in caplog.text


def test_a_backup_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    env = {"GROUPBUY_TELEGRAM__TOKEN": "1:abc", "GROUPBUY_STORAGE__PATH": str(tmp_path / "b.db")}
    assert cli("migrate", env=env, cwd=tmp_path).returncode == 0
    copy = tmp_path / "copy.db"
    umask = os.umask(0o002)  # a lax umask must not make the copy readable by others
    try:
        result = cli("backup", str(copy), env=env, cwd=tmp_path)
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("copy")] == ["copy.db"]
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM deals").fetchone() == (0,)


def test_a_backup_of_a_file_that_is_no_database_is_refused_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    env = {"GROUPBUY_TELEGRAM__TOKEN": "1:abc", "GROUPBUY_STORAGE__PATH": str(junk)}
    result = cli("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    assert result.returncode == 1 and "cannot back up" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "copy.db").exists()
