"""Benchmark: a leader's /summary of a 500-order day, rendered and sent through the real bot.

Run: .venv/bin/python -m bench.summary_day [--orders 500]
Prints the time from the /summary command to the last private message, and the messages
it took. The orders are written through the store (joins that form rounds), as they
would be by members tapping Join.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bot.app import Runtime, build_application
from bot.clock import Clock
from bot.config import Settings
from bot.core.forms import DealForm
from bot.core.models import Member
from tests.fakeapi import FakeBotAPI

TOKEN = "123456:BENCH-TOKEN"
GROUP = -1009990001
LEADER = 1001


async def run(orders: int) -> dict[str, float | int]:
    """Fill a day with `orders` confirmed orders, then time one /summary."""
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBotAPI(token=TOKEN) as api:
            leader = api.user(LEADER, "Lena")
            api.group(GROUP, "Bench group", creator=leader)
            api.started_users.add(LEADER)
            settings = Settings(
                telegram={"token": TOKEN, "base_url": api.base_url, "poll_timeout": 1},
                storage={"path": Path(folder) / "bench.db"},
                timezone="UTC",
            )
            runtime = Runtime(build_application(settings, Clock()))
            await runtime.start()
            try:
                await fill_day(runtime, orders)
                since = len(api.requests)
                started = time.perf_counter()
                api.send_text(GROUP, LEADER, "/summary")
                await api.wait_for(
                    "sendMessage",
                    since=since,
                    timeout=60,
                    where=lambda r: r.params.get("chat_id") == GROUP,  # "sent privately"
                )
                elapsed = time.perf_counter() - started
                private = [r for r in api.requests[since:] if r.params.get("chat_id") == LEADER]
            finally:
                await runtime.stop()
    return {
        "orders": orders,
        "seconds": round(elapsed, 3),
        "private_messages": len(private),
        "characters": sum(len(str(r.params.get("text", ""))) for r in private),
    }


async def fill_day(runtime: Runtime, orders: int) -> None:
    """Deals of 100 orders each, every round formed today."""
    store = runtime.service.store
    now = runtime.service.clock.now()
    leader = Member(user_id=LEADER, first_name="Lena")
    await store.groups.ensure_group(
        GROUP, "Bench group", tz="UTC", currency="CNY", lang="en", now=int(now.timestamp())
    )
    for start in range(0, orders, 100):
        form = DealForm(
            title=f"Deal {start // 100 + 1}: Alphonso mangoes, 5 kg box",
            price=1250,
            min_members=10,
            deadline=now + timedelta(days=1),
        )
        deal = await store.deals.create_deal(
            chat_id=GROUP,
            leader=leader,
            form=form,
            photo_file_id=None,
            currency="CNY",
            now=int(now.timestamp()),
        )
        for n in range(start, min(orders, start + 100)):
            member = Member(user_id=100_000 + n, first_name=f"Member {n}", username=f"m{n}")
            await store.rounds.join_round(deal.id, member, int(now.timestamp()))


def main() -> None:
    """Parse the options, run once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    figures = asyncio.run(run(args.orders))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"summary of a {figures['orders']}-order day")
    print(f"  /summary to last message : {figures['seconds']:.3f} s")
    print(f"  private messages sent    : {figures['private_messages']}")
    print(f"  characters               : {figures['characters']}")


if __name__ == "__main__":
    main()
