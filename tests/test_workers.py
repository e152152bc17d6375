"""Several webhook workers on one PostgreSQL database.

These run when GROUPBUY_TEST_POSTGRES_URL names a server (.ci/run sets it).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import GROUP_ID, POSTGRES_URL, TOKEN, bot_process, drop_schema, operator_env
from tests.fakeapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
SECRET = "worker-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(
    api: FakeBotAPI, schema: str, port: int, log: Path, url: str = POSTGRES_URL
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """One bot process in webhook mode on the shared PostgreSQL schema."""
    env = operator_env(
        GROUPBUY_TELEGRAM__TOKEN=TOKEN,
        GROUPBUY_TELEGRAM__BASE_URL=api.base_url,
        GROUPBUY_TELEGRAM__CARD_EDIT_INTERVAL="0.5",
        GROUPBUY_TELEGRAM__GROUP_MESSAGES_PER_MINUTE="6000",
        GROUPBUY_TELEGRAM__WEBHOOK__ENABLED="true",
        GROUPBUY_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/hook",
        GROUPBUY_TELEGRAM__WEBHOOK__PORT=str(port),
        GROUPBUY_TELEGRAM__WEBHOOK__PATH="hook",
        GROUPBUY_TELEGRAM__WEBHOOK__SECRET_TOKEN=SECRET,
        GROUPBUY_STORAGE__URL=url,
        GROUPBUY_STORAGE__SCHEMA_NAME=schema,
        GROUPBUY_DEALS__SWEEP_SECONDS="1",
    )
    return bot_process(env, log)


@asynccontextmanager
async def three_workers(
    api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[tuple[str, list[tuple[int, Any]]]]:
    """Three workers on a fresh schema; (the schema, [(port, process)]). Webhook workers
    never poll: updates reach them only as the test posts them, like a load balancer."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    ports = [free_port() for _ in range(3)]
    try:
        with (
            worker(api, schema, ports[0], tmp_path / "w0.log") as w0,
            worker(api, schema, ports[1], tmp_path / "w1.log") as w1,
            worker(api, schema, ports[2], tmp_path / "w2.log") as w2,
        ):
            async with aiohttp.ClientSession() as http:
                for n, (port, process) in enumerate(zip(ports, (w0, w1, w2), strict=True)):
                    await wait_listening(http, port, process, tmp_path / f"w{n}.log")
                yield schema, list(zip(ports, (w0, w1, w2), strict=True))
    finally:
        await drop_schema(schema)


async def wait_listening(
    http: aiohttp.ClientSession,
    port: int,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Wait until the worker's webhook answers. Three workers starting at once on two
    cores (each migrating in turn under PostgreSQL's lock) can take a while; a worker
    that died says why from its log."""
    deadline = asyncio.get_running_loop().time() + 120
    while asyncio.get_running_loop().time() < deadline:
        if process is not None and process.poll() is not None:
            tail = await asyncio.to_thread(log.read_text) if log is not None else ""
            raise AssertionError(
                f"worker on port {port} exited {process.returncode}:\n{tail[-2000:]}"
            )
        try:
            async with http.post(f"http://127.0.0.1:{port}/hook", data=b"{}") as response:
                if response.status in (200, 400, 403):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker on port {port} never listened")


async def deliver(http: aiohttp.ClientSession, port: int, update: dict[str, Any]) -> None:
    """Telegram (or the load balancer) posts an update to one worker."""
    async with http.post(
        f"http://127.0.0.1:{port}/hook",
        data=json.dumps(update),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    ) as response:
        assert response.status == 200, await response.text()


def pushed_tap(api: FakeBotAPI, query_id: str) -> dict[str, Any]:
    """The callback-query update the fake API made for a tap."""
    return next(u for u in api.pushed if u.get("callback_query", {}).get("id") == query_id)


def successful_answers(api: FakeBotAPI) -> Counter[str]:
    return Counter(
        str(r.params["callback_query_id"])
        for r in api.calls("answerCallbackQuery")
        if r.status == 200
    )


if POSTGRES_URL:

    async def test_three_workers_share_a_burst_and_sell_exactly_the_stock(
        api: FakeBotAPI, tmp_path: Path
    ) -> None:
        leader = api.user(1001, "Lena")
        api.group(GROUP_ID, "Mango lovers", creator=leader)
        members = [api.user(10_000 + n, f"M{n}") for n in range(1000)]
        api.started_users.update(m["id"] for m in members)

        async with (
            three_workers(api, tmp_path) as (schema, workers),
            aiohttp.ClientSession() as http,
        ):
            ports = [port for port, _ in workers]
            form = "/deal Cherries\nprice: 5\nmin: 10\ndeadline: 1d\nstock: 500\nlimit: 1"
            message = api.send_text(GROUP_ID, 1001, form)
            await deliver(http, ports[0], {"update_id": 1, "message": message})
            card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
            card_id = card.result["message_id"]
            join = next(d for t, d in api.buttons(GROUP_ID, card_id) if "Join" in t)

            updates = []
            for member in members:
                query_id = api.tap(GROUP_ID, member["id"], card_id, str(join))
                updates.append(pushed_tap(api, query_id))
            deliveries = [(ports[n % 3], u) for n, u in enumerate(updates)]
            deliveries += [(ports[(n + 1) % 3], u) for n, u in enumerate(updates[:150])]  # twice
            limit = asyncio.Semaphore(60)

            async def send(port: int, update: dict[str, Any]) -> None:
                async with limit:
                    await deliver(http, port, update)

            await asyncio.gather(*(send(port, u) for port, u in deliveries))
            queries = [u["callback_query"]["id"] for u in updates]
            await api.wait_until(
                lambda: all(q in successful_answers(api) for q in queries), timeout=120
            )
            answered = successful_answers(api)
            rows = await query(
                schema,
                "SELECT COALESCE(SUM(quantity), 0), MAX(quantity), COUNT(*) FROM orders"
                " WHERE status <> 'cancelled'",
            )

        assert all(answered[q] == 1 for q in queries), "every tap answered exactly once"
        assert rows == (500, 1, 500), "exactly the stock sold, nobody twice"
        texts = [a["text"] for q in queries for a in api.answers[q][:1]]
        assert sum(t.startswith("You're in") for t in texts) == 500

    async def test_a_deadline_is_kept_when_the_worker_that_armed_it_dies(
        api: FakeBotAPI, tmp_path: Path
    ) -> None:
        leader = api.user(1001, "Lena")
        api.group(GROUP_ID, "Mango lovers", creator=leader)
        ann, bo = api.user(2001, "Ann"), api.user(2002, "Bo")
        api.started_users.update({2001, 2002})
        async with (
            three_workers(api, tmp_path) as (_, workers),
            aiohttp.ClientSession() as http,
        ):
            (port0, first), (port1, _), _ = workers
            message = api.send_text(
                GROUP_ID, 1001, "/deal Plums\nprice: 3\nmin: 2\ndeadline: 1m\nmode: tipping"
            )
            await deliver(http, port0, {"update_id": 1, "message": message})
            card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
            card_id = card.result["message_id"]
            join = next(d for t, d in api.buttons(GROUP_ID, card_id) if "Join" in t)
            for user in (ann, bo):
                query_id = api.tap(GROUP_ID, user["id"], card_id, str(join))
                update = pushed_tap(api, query_id)
                await deliver(http, port1, update)
                await api.wait_answer(query_id, timeout=10)
            first.send_signal(signal.SIGKILL)  # the worker that armed the deadline

            sent = await api.wait_for(
                "sendMessage",
                chat_id=GROUP_ID,
                timeout=90,
                where=lambda r: "confirmed with 2 members" in str(r.params.get("text")),
            )
        assert sent.status == 200
        announcements = [
            r
            for r in api.calls("sendMessage", chat_id=GROUP_ID)
            if "confirmed with" in str(r.params.get("text"))
        ]
        assert len(announcements) == 1, "closed once, though every worker sweeps"


async def query(schema: str, sql: str) -> tuple[Any, ...]:
    """Read the workers' shared database directly."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        row = await conn.fetchrow(sql)
    finally:
        await conn.close()
    return tuple(row)
