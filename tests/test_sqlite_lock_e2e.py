"""Another process holds SQLite's write lock (a backup, a `sqlite3` shell): the bot keeps
answering what needs no write, and the joins that do wait for the lock, none lost or doubled."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.core.models import Member
from storage import Store
from storage.engines import SqliteEngine
from tests.conftest import GROUP_ID, World

QUICK = 0.5  # seconds: what needs no write is answered within this while locked

# Holds the write lock until told (a line on stdin, or the test's end closing it).
LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def deal_form(name: str, *, stock: int, min_members: int) -> str:
    return f"{name}\nprice: 10\nmin: {min_members}\ndeadline: 2h\nstock: {stock}\nlimit: 1"


@asynccontextmanager
async def write_lock(db: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holds the database's write lock until the caller releases it."""
    locker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOCKER,
        str(db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert locker.stdout is not None
    try:
        assert await locker.stdout.readline() == b"locked\n"
        yield locker
    finally:
        if locker.returncode is None:
            await release(locker)


async def release(locker: asyncio.subprocess.Process) -> None:
    """Let the locking process commit and end."""
    assert locker.stdin is not None
    locker.stdin.write(b"go\n")
    await locker.stdin.drain()
    assert await locker.wait() == 0


async def test_quick_answers_while_another_process_holds_the_write_lock(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    sold_out = await world.leader.posts(deal_form("Durian", stock=1, min_members=1))
    closed = await world.leader.posts(deal_form("Lychee", stock=5, min_members=2))
    card = await world.leader.posts(deal_form("Mangosteen", stock=10, min_members=10))
    # Taps on the buttons as first posted: Telegram delivers taps on old messages too.
    join = {deal: world.button(GROUP_ID, deal, "Join") for deal in (sold_out, closed, card)}
    first = world.member("First")
    assert "You're in" in await first.taps("Join", sold_out)
    await world.settle()
    assert "closed" in (await world.leader.says_and_hears("/close 2")).lower()
    late, later = world.member("Late"), world.member("Later")
    joiners = [world.member(f"Joiner{n}") for n in range(5)]
    api = world.api

    async with write_lock(tmp_path / "bot.db") as locker:
        async with asyncio.timeout(QUICK):
            assert "/deals" in await late.says_and_hears("/help")
        async with asyncio.timeout(QUICK):
            assert "/orders" in await later.says_and_hears("/help", chat_id=later.id)
        async with asyncio.timeout(QUICK):
            assert await late.taps_data(sold_out, join[sold_out]) == "Sold out."
        async with asyncio.timeout(QUICK):
            assert "closed" in (await later.taps_data(closed, join[closed])).lower()
        taps = [api.tap(GROUP_ID, j.id, card, join[card]) for j in joiners]
        # The joins need the write lock: they are still waiting for it.
        await api.wait_until(lambda: not api.pending_updates())  # the bot has them
        assert not any(api.answers.get(query) for query in taps)
        await release(locker)

    answers = [await api.wait_answer(query) for query in taps]
    await world.settle()
    assert all("You're in" in str(answer.get("text")) for answer in answers)
    assert all(len(api.answers[query]) == 1 for query in taps), "each tap answered once"
    [(taken,)] = await world.rows("SELECT taken FROM deals WHERE id = 3")
    [(ordered,)] = await world.rows(
        "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE deal_id = 3 AND status <> 'cancelled'"
    )
    assert (taken, ordered) == (5, 5)


async def test_a_write_waiting_for_the_lock_leaves_the_event_loop_free(tmp_path: Path) -> None:
    store = Store(SqliteEngine(tmp_path / "store.db"))
    await store.open()
    ann = Member(user_id=1, first_name="Ann")
    try:
        async with write_lock(tmp_path / "store.db") as locker:
            loop = asyncio.get_running_loop()
            started = loop.time()
            write = asyncio.create_task(store.groups.save_member(ann, 1))
            await asyncio.sleep(0)  # the write starts and waits for the lock
            assert await store.groups.get_member(1) is None
            # On the loop, the write would have held everything up until the lock's release.
            assert loop.time() - started < QUICK
            assert not write.done()
            await release(locker)
        await write
        assert await store.groups.get_member(1) == ann
    finally:
        await store.close()
