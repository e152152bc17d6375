"""Structured logs: with `log_format = "json"` every line is one JSON object, with the ids
of what it is about and never a name, a token or a secret; a traceback is one field."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import JsonLines, UpdateContext
from tests.conftest import GROUP_ID, TOKEN, World, bot_process, operator_env
from tests.fakeapi import FakeBotAPI

SECRET = "webhook-s3cret-token"


def parsed(text: str) -> list[dict[str, Any]]:
    """Each line of the log as JSON (json.loads fails the test on any other line)."""
    lines = text.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def clean(entries: list[dict[str, Any]], text: str, names: list[str]) -> None:
    """No token, secret or member's name anywhere in the log."""
    assert TOKEN not in text and TOKEN.partition(":")[2] not in text, "the token leaked"
    assert SECRET not in text
    for name in names:
        assert all(name not in json.dumps(entry) for entry in entries), name


@pytest.fixture
def json_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the bot logs at INFO, as the JSON lines `log_format = "json"` writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    handler.addFilter(UpdateContext())
    caplog.set_level(logging.INFO)
    logging.getLogger().addHandler(handler)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)


async def test_a_story_logs_one_json_object_per_line(world: World, json_log: io.StringIO) -> None:
    card = await world.leader.posts("Mangoes\nprice: 12\nmin: 3\ndeadline: 2h")
    ann, bo = world.member("Annabel"), world.member("Bartholomew")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    world.api.fail(1, status=400, methods=["sendMessage"])  # the reply to /deals fails
    world.leader.says("/deals")
    await world.api.wait_until(lambda: "failed" in json_log.getvalue())
    world.leader.says("/close 1 confirm")
    await world.api.wait_until(lambda: "round closed" in json_log.getvalue())
    await world.settle()
    logging.getLogger("bot.test").error("where=%s", "a\nb")  # a message across lines

    text = json_log.getvalue()
    entries = parsed(text)
    clean(entries, text, ["Annabel", "Bartholomew", "Lena"])
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)

    posted = next(e for e in entries if e["message"].startswith("deal posted"))
    assert posted["deal_id"] == 1 and posted["chat_id"] == GROUP_ID
    assert posted["user_id"] == world.leader.id and isinstance(posted["update_id"], int)
    assert posted["level"] == "INFO" and posted["logger"] == "bot.services.deals"

    error = next(e for e in entries if "failed" in e["message"] and e["level"] == "ERROR")
    assert error["chat_id"] == GROUP_ID and error["user_id"] == world.leader.id
    assert error["traceback"].startswith("Traceback") and "BadRequest" in error["traceback"]

    closed = next(e for e in entries if e["message"].startswith("round closed"))
    assert closed["deal_id"] == 1 and closed["round"] == 1 and closed["user_id"] == world.leader.id
    assert any(e["message"] == "where=a\nb" for e in entries)


async def test_the_bot_writes_json_lines_when_told(api: FakeBotAPI, tmp_path: Path) -> None:
    """`python -m bot` with GROUPBUY_LOG_FORMAT=json: a deal, two taps, a failed reply (a
    traceback), a round closed, SIGTERM; every line of its output parses."""
    log = tmp_path / "bot.log"
    leader = api.user(1001, "Lena")
    api.group(GROUP_ID, "Mango lovers", creator=leader, admins=[])
    for uid, name in ((2001, "Annabel"), (2002, "Bartholomew")):
        api.user(uid, name)
        api.started_users.add(uid)
    env = operator_env(
        GROUPBUY_TELEGRAM__TOKEN=TOKEN,
        GROUPBUY_TELEGRAM__BASE_URL=api.base_url,
        GROUPBUY_TELEGRAM__POLL_TIMEOUT="1",
        GROUPBUY_TELEGRAM__CARD_EDIT_INTERVAL="0.2",
        GROUPBUY_TELEGRAM__WEBHOOK__SECRET_TOKEN=SECRET,
        GROUPBUY_STORAGE__PATH=str(tmp_path / "bot.db"),
        GROUPBUY_LOG_FORMAT="json",
    )
    with bot_process(env, log) as bot:
        api.send_text(GROUP_ID, 1001, "/deal Lychee\nprice: 8\nmin: 3\ndeadline: 1h")
        card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
        card_id = card.result["message_id"]  # type: ignore[index]
        join = next(data for text, data in api.buttons(GROUP_ID, card_id) if "Join" in text)
        for uid in (2001, 2002):
            answer = await api.wait_answer(api.tap(GROUP_ID, uid, card_id, str(join)))
            assert answer["text"].startswith("You're in")
        api.fail(1, status=400, methods=["sendMessage"])
        api.send_text(GROUP_ID, 1001, "/deals")
        await api.wait_until(lambda: "failed" in log.read_text(), timeout=20)
        since = len(api.requests)
        api.send_text(GROUP_ID, 1001, "/close 1 confirm")
        await api.wait_for("sendMessage", chat_id=2001, since=since, timeout=20)
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, bot.wait, 30)
        assert code == 0

    text = log.read_text()
    entries = parsed(text)
    clean(entries, text, ["Annabel", "Bartholomew", "Lena"])
    messages = [e["message"] for e in entries]
    assert any(m.startswith("bot @groupbuy_test_bot is polling") for m in messages)
    assert any(m == "bot stopped" for m in messages)
    traced = [e for e in entries if "traceback" in e]
    assert traced and all(e["level"] == "ERROR" for e in traced)
    closed = next(e for e in entries if e["message"].startswith("round closed"))
    assert (closed["deal_id"], closed["round"], closed["chat_id"]) == (1, 1, GROUP_ID)


def test_a_wrong_log_format_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, telegram={"token": TOKEN}, log_format="xml")
    assert str(raised.value) == (
        "setting log_format: Input should be 'text' or 'json' (config file or GROUPBUY_LOG_FORMAT)"
    )
