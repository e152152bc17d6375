"""The flash sale on PostgreSQL with N webhook workers (bench/flash_sale.py --store/--workers).

N bot processes in webhook mode share one PostgreSQL schema; the burst is handed to them
round-robin, as a load balancer would, and the figures are read as in the single-bot run:
taps/s from the first hand-over to the last answer, tap-to-answer percentiles, and
correctness (exactly the stock sold, nobody twice, every tap answered exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.conftest import GROUP_ID, TOKEN
from tests.fakeapi import FakeBotAPI
from tests.test_workers import deliver, free_port, pushed_tap, successful_answers, wait_listening
from tests.test_workers import worker as start_worker


async def run(
    store_url: str, workers: int, members: int, stock: int, workdir: Path
) -> dict[str, Any]:
    """One burst of `members` Join taps on a deal of `stock` units over `workers` processes."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    async with FakeBotAPI(token=TOKEN) as api:
        leader = api.user(1001, "Lena")
        api.group(GROUP_ID, "Bench group", creator=leader)
        people = [api.user(100_000 + n, f"M{n}") for n in range(members)]
        api.started_users.update(p["id"] for p in people)
        ports = [free_port() for _ in range(workers)]
        with contextlib.ExitStack() as stack:
            for n, port in enumerate(ports):
                stack.enter_context(
                    start_worker(api, schema, port, workdir / f"worker{n}.log", store_url)
                )
            try:
                return await _burst(api, ports, people, stock, store_url, schema)
            finally:
                stack.close()
                await _drop(store_url, schema)


async def _burst(
    api: FakeBotAPI,
    ports: list[int],
    people: list[dict[str, Any]],
    stock: int,
    store_url: str,
    schema: str,
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        for port in ports:
            await wait_listening(http, port)
        form = f"/deal Cherries\nprice: 5\nmin: 10\ndeadline: 1d\nstock: {stock}\nlimit: 1"
        message = api.send_text(GROUP_ID, 1001, form)
        await deliver(http, ports[0], {"update_id": 1, "message": message})
        card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=30)
        card_id = card.result["message_id"]
        join = next(d for t, d in api.buttons(GROUP_ID, card_id) if "Join" in t)
        updates = [pushed_tap(api, api.tap(GROUP_ID, p["id"], card_id, str(join))) for p in people]
        handed: dict[str, float] = {}
        limit = asyncio.Semaphore(100)

        async def hand_over(port: int, update: dict[str, Any]) -> None:
            async with limit:
                handed[update["callback_query"]["id"]] = time.monotonic()
                await deliver(http, port, update)

        await asyncio.gather(*(hand_over(ports[n % len(ports)], u) for n, u in enumerate(updates)))
        queries = [u["callback_query"]["id"] for u in updates]
        await api.wait_until(lambda: len(successful_answers(api)) >= len(queries), timeout=300)
    answered_at = {
        str(r.params["callback_query_id"]): r.at
        for r in api.calls("answerCallbackQuery")
        if r.status == 200
    }
    latencies = sorted(answered_at[q] - handed[q] for q in queries)
    seconds = max(answered_at.values()) - min(handed.values())
    units, most, orders = await _store_facts(store_url, schema)
    answers = successful_answers(api)
    correct = units == stock and most == 1 and all(answers[q] == 1 for q in queries)
    return {
        "store": "postgresql",
        "workers": len(ports),
        "taps": len(queries),
        "seconds": round(seconds, 3),
        "taps_per_second": round(len(queries) / seconds, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
        "units_confirmed_or_pending": units,
        "orders": orders,
        "correct": correct,
    }


async def _store_facts(url: str, schema: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        row = await conn.fetchrow(
            "SELECT COALESCE(SUM(quantity), 0), COALESCE(MAX(quantity), 0), COUNT(*)"
            " FROM orders WHERE status <> 'cancelled'"
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def _drop(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def print_report(report: dict[str, Any]) -> None:
    """The figures, one per line."""
    print(
        f"Flash sale on PostgreSQL with {report['workers']} webhook worker(s):"
        f" {report['taps']} taps at once"
    )
    print("  (webhook workers as in tests/test_workers.py: card edits every 0.5 s, sweep 1 s;")
    print("   updates handed to them round-robin over HTTP; the PTB ceiling is not run here)")
    print(f"  first hand-over → last answer  {report['seconds']:.2f} s")
    print(f"  taps per second               {report['taps_per_second']}")
    print(
        f"  latency p50 / p95 / p99       {report['p50_ms']} / {report['p95_ms']}"
        f" / {report['p99_ms']} ms"
    )
    print(f"  units sold                    {report['units_confirmed_or_pending']}")
    print(f"  correct                       {'yes' if report['correct'] else 'NO'}")
