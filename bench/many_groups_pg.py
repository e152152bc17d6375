"""bench/many_groups.py on PostgreSQL with N webhook workers (`--store postgresql://… --workers N`).

The store is built through the repositories in a schema of its own (dropped after); the
workers are `python -m bot` in webhook mode as in bench/workers.py, each with its share
of Telegram's overall 30 messages a second (30/N) and the fake API's flood limits on. The
quiet group's taps are posted to the live workers in turn, as a load balancer would.
Mid-storm one worker is killed (SIGKILL) and not started again: what it had claimed must
still reach Telegram, through the other worker, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.flash_harness import TOKEN, BenchError, base_env, log_line, spawn, stop_process, tail
from bench.many_groups_run import ManyAPI, Taps, card_chats, populate_cards
from bench.many_groups_store import Layout, _fill
from storage import open_store

SECRET = "bench-secret"


def new_schema() -> str:
    """A schema name of this run's own (never one another run or the CI uses)."""
    return f"bench_mg_{uuid.uuid4().hex[:10]}"


async def build(url: str, schema: str, layout: Layout) -> None:
    """The store of many_groups_store.build, written on PostgreSQL in `schema`."""
    store = open_store("", url, schema)
    await store.open()
    try:
        await _fill(store, layout)
    finally:
        await store.close()


async def drop(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def connected(url: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()


async def cards(url: str, schema: str, layout: Layout) -> list[tuple[int, int, int]]:
    """(chat_id, card_message_id, deal_id) of the storm groups' and quiet group's open deals."""
    async with connected(url, schema) as conn:
        rows = await conn.fetch(
            "SELECT chat_id, card_message_id, id FROM deals WHERE status = 'open'"
            " AND chat_id = ANY($1::bigint[]) ORDER BY id",
            card_chats(layout),
        )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def read_store(url: str, schema: str, quiet_users: int) -> dict[str, Any]:
    """many_groups_run.read_store, on PostgreSQL."""
    async with connected(url, schema) as conn:
        rows = await conn.fetch(
            "SELECT o.user_id, d.title FROM orders o JOIN deals d ON d.id = o.deal_id"
            " WHERE d.title LIKE 'Storm %' AND o.status <> 'cancelled'"
        )
        formed = await conn.fetchval(
            "SELECT COUNT(*) FROM rounds r JOIN deals d ON d.id = r.deal_id"
            " WHERE d.title LIKE 'Storm %' AND r.status = 'formed'"
        )
        units = await conn.fetchval(
            "SELECT COALESCE(SUM(o.quantity), 0) FROM orders o JOIN deals d ON d.id = o.deal_id"
            " WHERE d.title LIKE 'Storm %' AND o.status = 'confirmed'"
        )
        quiet = await conn.fetchval(
            "SELECT COUNT(*) FROM orders WHERE user_id >= $1 AND status <> 'cancelled'",
            quiet_users,
        )
    return {
        "storm_orders": {(int(r[0]), int(str(r[1]).split()[1])) for r in rows},
        "storm_formed": int(formed),
        "storm_confirmed_units": int(units),
        "quiet_orders": int(quiet),
    }


async def execute(url: str, schema: str, sql: str) -> None:
    async with connected(url, schema) as conn:
        await conn.execute(sql)


class Workers:
    """N webhook workers on one schema, the clock showing `clock_at` at spawn; as
    many_groups_run.Bot for the parts (pid, spawned, real_time, check_alive, kill)."""

    def __init__(
        self, api: ManyAPI, url: str, schema: str, workdir: Path, n: int, *, clock_at: float
    ) -> None:
        self.api = api
        self.url = url
        self.schema = schema
        self.workdir = workdir
        self.count = n
        self.offset = clock_at - time.time()
        self.ports = [_free_port() for _ in range(n)]
        self.processes: list[asyncio.subprocess.Process] = []
        self.killed: set[int] = set()
        self.spawned = 0.0
        self._turn = 0
        self.http: aiohttp.ClientSession | None = None

    def log(self, n: int) -> Path:
        return self.workdir / f"worker{n}.log"

    @property
    def pid(self) -> int:
        """The first live worker's process id."""
        return next(p.pid for n, p in enumerate(self.processes) if n not in self.killed)

    def real_time(self, moment: float) -> float:
        return time.monotonic() + (moment - self.offset - time.time())

    def env(self, port: int) -> dict[str, str]:
        return base_env() | {
            "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
            "GROUPBUY_TELEGRAM__BASE_URL": self.api.base_url,
            "GROUPBUY_TELEGRAM__FLOOD_CONTROL": "true",
            # Telegram's 30 a second is the bot's, not each worker's: each takes its share.
            "GROUPBUY_TELEGRAM__MESSAGES_PER_SECOND": f"{30 / self.count:g}",
            "GROUPBUY_TELEGRAM__WEBHOOK__ENABLED": "true",
            "GROUPBUY_TELEGRAM__WEBHOOK__URL": f"http://127.0.0.1:{port}/hook",
            "GROUPBUY_TELEGRAM__WEBHOOK__PORT": str(port),
            "GROUPBUY_TELEGRAM__WEBHOOK__PATH": "hook",
            "GROUPBUY_TELEGRAM__WEBHOOK__SECRET_TOKEN": SECRET,
            "GROUPBUY_STORAGE__URL": self.url,
            "GROUPBUY_STORAGE__SCHEMA_NAME": self.schema,
            "GROUPBUY_DEALS__SWEEP_SECONDS": "5",
            "GROUPBUY_CLOCK_OFFSET": f"{self.offset:.3f}",
        }

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Workers]:
        self.spawned = time.monotonic()
        async with aiohttp.ClientSession() as http:
            self.http = http
            try:
                for n, port in enumerate(self.ports):
                    self.processes.append(
                        await spawn(
                            [__import__("sys").executable, "-m", "bot"],
                            self.env(port),
                            self.workdir,
                            self.log(n),
                        )
                    )
                yield self
            finally:
                for n, process in enumerate(self.processes):
                    outcome = await stop_process(process)
                    log_line(f"worker {n} stopped: {outcome}")
                self.http = None

    async def kill(self, n: int) -> None:
        """SIGKILL worker n, as a crash; it is not started again."""
        self.killed.add(n)
        process = self.processes[n]
        if process.returncode is None:
            process.kill()
            await process.wait()

    def check_alive(self, what: str) -> None:
        for n, process in enumerate(self.processes):
            if n not in self.killed and process.returncode is not None:
                raise BenchError(
                    f"worker {n} exited ({process.returncode}) before {what}:\n{tail(self.log(n))}"
                )

    async def deliver(self, update: dict[str, Any]) -> None:
        """Post the update to the next live worker; one not listening yet (or just killed)
        passes it on to the next, as a load balancer's health check would."""
        assert self.http is not None
        body = json.dumps(update)
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            live = [n for n in range(self.count) if n not in self.killed]
            n = live[self._turn % len(live)]
            self._turn += 1
            try:
                url = f"http://127.0.0.1:{self.ports[n]}/hook"
                async with self.http.post(url, data=body, headers=headers) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.05)
        raise BenchError("no worker took an update for 300 s")


@dataclass
class WebhookTaps(Taps):
    """The quiet group's taps, posted to the workers instead of fetched by polling."""

    workers: Workers | None = None
    sending: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Each part has a fresh fake API on the same schema: its update and query ids must
        # not repeat an earlier part's, or the bot takes the tap for a redelivery.
        self.api._next_update_id = self.next_user
        self.api._query_ids = itertools.count(4_800_000_000_000_000_000 + self.next_user)

    def tap(self) -> str:
        query = super().tap()
        assert self.workers is not None
        update = next(
            u for u in reversed(self.api.pushed) if u.get("callback_query", {}).get("id") == query
        )
        task = asyncio.create_task(self.workers.deliver(update))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)
        return query

    async def settle(self) -> None:
        for task in list(self.sending):
            task.cancel()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def world(api: ManyAPI, layout: Layout, url: str, schema: str) -> Any:
    """populate() from the PostgreSQL store."""
    return populate_cards(api, layout, await cards(url, schema, layout))
