"""The operator's endpoints: /healthz, /readyz and /metrics, on `[ops] port` when polling
and on the webhook's server too when the webhook is on."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import Runtime, build_application
from bot.clock import Clock
from bot.config import ConfigError, load_settings
from tests.conftest import STORES, TOKEN, World, drop_schema, settings_for
from tests.fakeapi import FakeBotAPI

DEAL = "Mangoes\nprice: 12\nmin: 2\ndeadline: 2h\nstock: 10"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def ops_world(
    api: FakeBotAPI, tmp_path: Path, store: str = "sqlite", **telegram: Any
) -> AsyncIterator[tuple[World, str]]:
    """The bot with `[ops] port` set: the world, and the ops server's origin."""
    port = free_port()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    clock = Clock()
    settings = settings_for(
        api, tmp_path / "bot.db", store, schema, telegram=telegram, ops={"port": port}
    )
    runtime = Runtime(build_application(settings, clock))
    await runtime.start()
    try:
        yield World(api, runtime, clock), f"http://127.0.0.1:{port}"
    finally:
        await runtime.stop()
        if store == "postgres":
            await drop_schema(schema)


async def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.content_type, await response.text()


async def scrape(origin: str) -> Samples:
    status, _, text = await get(f"{origin}/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Poll `check` every 50 ms until it holds, for `timeout` seconds at most."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.05)


async def answered(origin: str, before: Samples, taps: int) -> Samples:
    """The metrics once `taps` more answers were timed (the fake records an answer before
    the bot has read Telegram's reply to it)."""
    now = before

    async def timed() -> bool:
        nonlocal now
        now = await scrape(origin)
        return moved(before, now, "groupbuy_tap_answer_seconds_count") >= taps

    await until(timed)
    return now


@pytest.mark.parametrize("store", STORES)
async def test_metrics_count_a_story(api: FakeBotAPI, tmp_path: Path, store: str) -> None:
    async with ops_world(api, tmp_path, store) as (world, origin):
        before = await scrape(origin)
        card = await world.leader.posts(DEAL)
        ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
        assert (await ann.taps("Join", card)).startswith("You're in")
        assert "formed" in await bo.taps("Join", card)
        await world.settle()
        formed = await answered(origin, before, 2)
        assert (await cy.taps("Join", card)).startswith("You're in")  # round 2
        await world.pass_time(3 * 3600)  # round 2 fails at the deadline; the deal ends
        after = await answered(origin, formed, 1)

    assert moved(before, formed, "groupbuy_updates_total", kind="command") == 1
    assert moved(before, formed, "groupbuy_updates_total", kind="tap") == 2
    assert moved(before, formed, "groupbuy_rounds_total", outcome="formed") == 1
    assert moved(before, formed, "groupbuy_orders_total", outcome="confirmed") == 2
    assert moved(before, formed, "groupbuy_rounds_total", outcome="failed") == 0
    assert value(formed, "groupbuy_deals_open") == 1
    # The taps' answers, timed from their arrival.
    assert moved(before, formed, "groupbuy_tap_answer_seconds_count") == 2
    assert moved(before, formed, "groupbuy_tap_answer_seconds_bucket", le="+Inf") == 2
    assert 0 < moved(before, formed, "groupbuy_tap_answer_seconds_sum") < 10
    calls = "groupbuy_bot_api_calls_total"
    assert moved(before, formed, calls, method="answerCallbackQuery", outcome="ok") == 2
    # The card, and a private confirmation to each member of the round.
    assert moved(before, formed, calls, method="sendMessage", outcome="ok") >= 3
    assert value(formed, calls, method="getUpdates", outcome="ok") > 0
    assert moved(before, formed, "groupbuy_store_seconds_count", operation="write") >= 3
    assert value(formed, "groupbuy_store_seconds_count", operation="read") > 0

    assert moved(formed, after, "groupbuy_updates_total", kind="tap") == 1
    assert moved(formed, after, "groupbuy_rounds_total", outcome="failed") == 1
    assert moved(formed, after, "groupbuy_orders_total", outcome="cancelled") == 1
    assert moved(formed, after, "groupbuy_rounds_total", outcome="formed") == 0
    assert value(after, "groupbuy_deals_open") == 0

    for queue in ("group_sends", "private_sends", "card_edits"):
        assert value(after, "groupbuy_queue_depth", queue=queue) == 0  # all sent
    assert value(after, "groupbuy_flood_wait_seconds_total") == 0
    assert abs(value(after, "groupbuy_up_since_seconds") - time.time()) < 300
    assert value(after, "process_resident_memory_bytes") > 0


async def test_a_flood_wait_and_a_failing_call_are_counted(api: FakeBotAPI, tmp_path: Path) -> None:
    async with ops_world(api, tmp_path) as (world, origin):
        before = await scrape(origin)
        api.flood(1, retry_after=1, methods=["sendMessage"])
        await world.leader.says_and_hears("/deals")
        api.fail(1, status=502, methods=["sendMessage"])
        await world.leader.says_and_hears("/deals")
        calls = "groupbuy_bot_api_calls_total"

        async def both_answered() -> bool:
            # The fake records a reply before the bot has read its answer.
            now = await scrape(origin)
            return moved(before, now, calls, method="sendMessage", outcome="ok") == 2

        await until(both_answered)
        after = await scrape(origin)

    assert moved(before, after, calls, method="sendMessage", outcome="429") == 1
    assert moved(before, after, calls, method="sendMessage", outcome="5xx") == 1
    assert moved(before, after, "groupbuy_flood_wait_seconds_total") == 1


async def test_readyz_fails_while_the_bot_api_is_unreachable_and_healthz_does_not(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """The fake Bot API refuses connections; once the bot's clock shows a minute without an
    answer (moved, not waited for), /readyz says 503 with the reason, and 200 again soon
    after the API is back. /healthz answers 200 throughout."""
    async with ops_world(api, tmp_path) as (world, origin):
        assert await get(f"{origin}/readyz") == (
            200,
            "application/json",
            '{"status": "ready"}',
        )
        port = api._port
        await api.stop()  # connections refused from now on
        metrics = world.service.metrics
        await api.wait_until(lambda: metrics.api_failing is not None, timeout=10)
        assert (await get(f"{origin}/readyz"))[0] == 200, "a failed call alone is not enough"

        world.clock.advance(61)

        async def refused() -> bool:
            return (await get(f"{origin}/readyz"))[0] == 503

        await until(refused)
        status, kind, body = await get(f"{origin}/readyz")
        assert status == 503 and kind == "application/json" and "\n" not in body
        reason = json.loads(body)
        assert reason["status"] == "not ready"
        assert "no answer from the Bot API for 6" in reason["reason"], reason
        assert (await get(f"{origin}/healthz"))[0] == 200

        await api.start(port)

        async def ready() -> bool:
            return (await get(f"{origin}/readyz"))[0] == 200

        await until(ready)
        assert (await get(f"{origin}/healthz")) == (200, "application/json", '{"status": "ok"}')


async def test_a_quiet_webhook_bot_asks_the_bot_api_itself_before_saying_not_ready(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """In webhook mode nothing polls: after one failed call and a quiet minute, /readyz
    calls getMe itself rather than staying 503 until traffic comes."""
    port = free_port()
    webhook = {
        "enabled": True,
        "url": f"http://127.0.0.1:{port}/hook",
        "listen": "127.0.0.1",
        "port": port,
        "path": "hook",
        "secret_token": "s3cret-token",
    }
    async with ops_world(api, tmp_path, webhook=webhook) as (world, origin):
        metrics = world.service.metrics
        metrics.failed(f"{api.base_url}/sendMessage", "timeout")  # a send timed out once
        world.clock.advance(61)  # and nothing was called for a minute
        probes = len(api.calls("getMe"))
        assert await get(f"{origin}/readyz") == (200, "application/json", '{"status": "ready"}')
        assert len(api.calls("getMe")) == probes + 1
        assert metrics.api_failing is None


async def test_readyz_names_a_stuck_store_and_stopped_timers(
    api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ops_world(api, tmp_path) as (world, origin):
        store = world.service.store

        async def stuck() -> int:
            await asyncio.sleep(60)
            return 0

        monkeypatch.setattr(store, "schema_version", stuck)
        status, _, body = await get(f"{origin}/readyz")
        assert status == 503
        assert json.loads(body)["reason"] == "the store did not answer within 2 s"
        monkeypatch.undo()

        deadlines = world.service.deadlines
        deadlines.last_tick = time.monotonic() - 3600
        status, _, body = await get(f"{origin}/readyz")
        assert status == 503 and "the timers last swept 3600 s ago" in body
        await deadlines.resync()  # a sweep
        assert (await get(f"{origin}/readyz"))[0] == 200


async def test_the_webhook_server_answers_them_too(api: FakeBotAPI, tmp_path: Path) -> None:
    port = free_port()
    webhook = {
        "enabled": True,
        "url": f"http://127.0.0.1:{port}/hook",
        "listen": "127.0.0.1",
        "port": port,
        "path": "hook",
        "secret_token": "s3cret-token",
    }
    async with ops_world(api, tmp_path, webhook=webhook) as (_, origin):
        for base in (f"http://127.0.0.1:{port}", origin):
            assert (await get(f"{base}/healthz"))[0] == 200
            assert (await get(f"{base}/readyz"))[0] == 200
            status, kind, text = await get(f"{base}/metrics")
            assert status == 200 and kind == "text/plain"
            assert "groupbuy_up_since_seconds" in text


async def test_off_unless_a_port_is_set_and_never_on_the_webhooks_port(
    sqlite_world: World,
) -> None:
    assert sqlite_world.runtime.ops._runner is None
    with pytest.raises(ConfigError, match=r"setting ops: ops.port must differ"):
        load_settings(
            None,
            telegram={
                "token": TOKEN,
                "webhook": {
                    "enabled": True,
                    "url": "https://bot.example/hook",
                    "port": 8443,
                    "secret_token": "s3cret",
                },
            },
            ops={"port": 8443},
        )
    with pytest.raises(ConfigError, match=r"setting ops.port: .*GROUPBUY_OPS__PORT"):
        load_settings(None, telegram={"token": TOKEN}, ops={"port": 70000})


# ----------------------------------------------------------- an address already taken


async def test_a_port_already_taken_is_named_in_one_line(api: FakeBotAPI, tmp_path: Path) -> None:
    """The ops port, or the webhook's, held by another program: one line naming the
    address and the setting to change, exit 1, no traceback."""
    from tests.test_transport import assert_one_clean_line, start_bot

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ops = await asyncio.to_thread(start_bot, tmp_path, api, GROUPBUY_OPS__PORT=str(port))
        line = assert_one_clean_line(ops)
        assert f"cannot listen on 127.0.0.1:{port}" in line and "check ops.port" in line
        webhook = await asyncio.to_thread(
            start_bot,
            tmp_path,
            api,
            GROUPBUY_TELEGRAM__WEBHOOK__ENABLED="true",
            GROUPBUY_TELEGRAM__WEBHOOK__URL="https://bot.example.com/telegram",
            GROUPBUY_TELEGRAM__WEBHOOK__SECRET_TOKEN="s3cret-token",
            GROUPBUY_TELEGRAM__WEBHOOK__PORT=str(port),
        )
        line = assert_one_clean_line(webhook)
        assert f"cannot listen on 127.0.0.1:{port}" in line
        assert "check telegram.webhook.port" in line
    assert not api.webhook_url, "no webhook was set without a server to take it"
