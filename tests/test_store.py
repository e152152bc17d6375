"""The store on each engine: migrations, and joins that cannot oversell however they race."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import UserError
from bot.core.forms import DealForm, Mode
from bot.core.models import DealStatus, Member, OrderStatus, PickupPoint, RoundStatus
from storage import engines
from storage.engines import (
    CHECKPOINT_EVERY,
    PostgresEngine,
    SqliteEngine,
    StoreUnavailable,
    migration_files,
)
from storage.repos import base
from storage.store import Store
from tests.conftest import POSTGRES_URL, STORES, drop_schema, store_before

NOW = 1_800_000_000
LEADER = Member(user_id=1, first_name="Lena")


async def new_deal(store: Store, **kw: object) -> int:
    values: dict[str, object] = {
        "title": "Mangoes",
        "price": 1250,
        "min_members": 3,
        "deadline": datetime.fromtimestamp(NOW, UTC) + timedelta(hours=2),
    }
    values.update(kw)
    form = DealForm(**values)  # type: ignore[arg-type]
    deal = await store.deals.create_deal(
        chat_id=-100, leader=LEADER, form=form, photo_file_id=None, currency="CNY", now=NOW
    )
    return deal.id


def member(n: int) -> Member:
    return Member(user_id=1000 + n, first_name=f"M{n}")


async def orders(store: Store, deal_id: int) -> list[Any]:
    return await store.engine.reader.all(
        "SELECT * FROM orders WHERE deal_id = ? ORDER BY id", deal_id
    )


async def test_migrations_are_numbered_and_reach_the_last(store: Store) -> None:
    numbers = [number for number, _, _ in migration_files(store.engine.dialect)]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1
    assert await store.schema_version() == numbers[-1]
    assert await store.migrate() == numbers[-1]  # a second run changes nothing


async def test_reopening_keeps_every_deal(tmp_path: Path) -> None:
    first = Store(SqliteEngine(tmp_path / "keep.db"))
    await first.open()
    await first.groups.ensure_group(-100, "G", tz="UTC", currency="CNY", lang="en", now=NOW)
    deal_id = await new_deal(first)
    await first.rounds.join_round(deal_id, member(1), NOW)
    await first.close()

    again = Store(SqliteEngine(tmp_path / "keep.db"))
    await again.open()
    view = await again.deals.deal_view(deal_id)
    await again.close()
    assert view is not None and [line.member.user_id for line in view.lines] == [1001]


async def test_concurrent_joins_never_exceed_stock(store: Store) -> None:
    deal_id = await new_deal(store, stock=50, min_members=10)

    async def tap(n: int) -> str:
        try:
            await store.rounds.join_round(deal_id, member(n), NOW)
        except UserError as error:
            return error.template
        return "joined"

    results = await asyncio.gather(*(tap(n) for n in range(200)))

    assert results.count("joined") == 50
    assert set(results) == {"joined", "tap_sold_out"}
    rows = await orders(store, deal_id)
    assert sum(r["quantity"] for r in rows if r["status"] == OrderStatus.CONFIRMED) == 50
    deal = await store.deals.get_deal(deal_id)
    assert deal is not None and deal.taken == 50 and deal.status is DealStatus.CLOSED


async def test_concurrent_taps_by_one_member_respect_the_limit(store: Store) -> None:
    deal_id = await new_deal(store, limit=2)
    results = await asyncio.gather(
        *(store.rounds.join_round(deal_id, member(1), NOW) for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 2
    assert [r["quantity"] for r in await orders(store, deal_id)] == [2]


async def test_closing_twice_closes_once(store: Store) -> None:
    deal_id = await new_deal(store)
    await store.rounds.join_round(deal_id, member(1), NOW)
    later = NOW + 3 * 3600
    first, second = await asyncio.gather(
        store.rounds.close_due(deal_id, later), store.rounds.close_due(deal_id, later)
    )
    closed = [c for c in (first, second) if c is not None]
    assert len(closed) == 1 and closed[0].round.status is RoundStatus.FAILED
    assert [r["status"] for r in await orders(store, deal_id)] == ["cancelled"]


async def test_a_join_after_the_deadline_is_refused(store: Store) -> None:
    deal_id = await new_deal(store)
    with pytest.raises(UserError) as error:
        await store.rounds.join_round(deal_id, member(1), NOW + 2 * 3600)
    assert error.value.template == "tap_closed"
    assert await orders(store, deal_id) == []


async def test_tipping_deal_sells_out_and_closes(store: Store) -> None:
    deal_id = await new_deal(store, mode=Mode.TIPPING, stock=3, min_members=2)
    for n in range(3):
        outcome = await store.rounds.join_round(deal_id, member(n), NOW)
    assert outcome.closed is not None and outcome.closed.round.status is RoundStatus.FORMED
    with pytest.raises(UserError):
        await store.rounds.join_round(deal_id, member(9), NOW)


async def test_sqlite_checkpoints_its_wal_in_the_background(tmp_path: Path) -> None:
    engine = SqliteEngine(tmp_path / "wal.db")
    store = Store(engine)
    await store.open()
    await store.groups.ensure_group(-100, "G", tz="UTC", currency="CNY", lang="en", now=NOW)
    deal_id = await new_deal(store, min_members=1000)
    for n in range(CHECKPOINT_EVERY + 10):
        await store.rounds.join_round(deal_id, member(n), NOW, tap_id=f"t{n}")
        await asyncio.sleep(0)  # the bot's loop turns between taps
    await asyncio.sleep(0.5)  # the checkpoint thread
    # An immutable read ignores the WAL: it sees only what was copied into the file.
    uri = f"file:{tmp_path / 'wal.db'}?immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as file_only:
        [(in_file,)] = file_only.execute("SELECT COUNT(*) FROM orders").fetchall()
    await store.close()
    assert in_file >= CHECKPOINT_EVERY - 10  # all but the last few commits are in the file


async def test_an_sqlite_too_old_for_the_store_is_named_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(StoreUnavailable, match=r"SQLite 3\.35 or newer .* is 3\.31\.1"):
        await Store(SqliteEngine(tmp_path / "old.db")).open()
    assert not (tmp_path / "old.db").exists(), "nothing was created"


async def test_a_postgresql_server_that_cannot_be_reached_is_named_at_open() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = PostgresEngine(f"postgresql://postgres@127.0.0.1:{port}/test", "t_unreachable")
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL"):
        await Store(engine).open()


if POSTGRES_URL:

    async def test_workers_starting_together_on_a_new_schema_all_open_it() -> None:
        # CREATE SCHEMA IF NOT EXISTS races with itself; eight at once used to fail one.
        schema = f"t_{uuid.uuid4().hex[:12]}"
        stores = [Store(PostgresEngine(POSTGRES_URL, schema, pool_size=2)) for _ in range(8)]
        try:
            await asyncio.gather(*(store.open() for store in stores))
            versions = {await store.schema_version() for store in stores}
            assert versions == {migration_files("postgres")[-1][0]}
        finally:
            for store in stores:
                await store.close()
            await drop_schema(schema)


def test_a_model_is_read_from_a_row_whose_column_names_can_be_walked_once() -> None:
    class Record(dict[str, Any]):  # asyncpg.Record's keys() is a one-pass iterator
        def keys(self) -> Any:
            return iter(list(super().keys()))

    row = Record(name="Clubhouse", extra=1, chat_id=-100, id=7)
    assert base._build(PickupPoint, row) == PickupPoint(7, -100, "Clubhouse")


@pytest.mark.parametrize("engine", STORES)
async def test_rounds_closed_before_migration_9_know_how_many_joined(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with store_before(8, engine, tmp_path, monkeypatch) as store:
        async with store.engine.transaction() as db:
            await db.execute(
                "INSERT INTO groups (chat_id, title, created_at) VALUES (-100, 'G', ?)", (NOW,)
            )
            for n in range(1, 6):
                await db.execute(
                    "INSERT INTO members (user_id, first_name, updated_at) VALUES (?, ?, ?)",
                    (1000 + n, f"M{n}", NOW),
                )
        async with store.engine.transaction() as db:
            # A deal as the schema of version 8 holds it (today's create_deal writes
            # columns added since).
            await db.execute(
                "INSERT INTO deals (chat_id, leader_id, title, price, currency, min_members,"
                " deadline, mode, created_at) VALUES (-100, 1001, 'Mangoes', 1250, 'CNY', 2,"
                " ?, 'rounds', ?)",
                (NOW + 3600, NOW),
            )
            found = await db.one("SELECT MAX(id) AS id FROM deals")
            assert found is not None
            deal_id = found["id"]
            await db.execute(
                "INSERT INTO rounds (deal_id, number, opened_at) VALUES (?, 1, ?)", (deal_id, NOW)
            )
        async with store.engine.transaction() as db:
            # Round 1 formed with M1 and M2 (M3 had left); round 2 failed with M1 and M4
            # in it when it closed (M5 had left), at NOW + 20.
            await db.execute(
                "UPDATE rounds SET status = 'formed', closed_at = ? WHERE deal_id = ?",
                (NOW + 10, deal_id),
            )
            await db.execute(
                "INSERT INTO rounds (deal_id, number, status, opened_at, closed_at)"
                " VALUES (?, 2, 'failed', ?, ?)",
                (deal_id, NOW + 10, NOW + 20),
            )
            await db.execute(
                "UPDATE deals SET status = 'closed', closed_at = ?, taken = 2 WHERE id = ?",
                (NOW + 20, deal_id),
            )
            for number, user, status, updated in (
                (1, 1, "confirmed", NOW + 10),
                (1, 2, "confirmed", NOW + 10),
                (1, 3, "cancelled", NOW + 5),
                (2, 1, "cancelled", NOW + 20),
                (2, 4, "cancelled", NOW + 20),
                (2, 5, "cancelled", NOW + 15),
            ):
                await db.execute(
                    "INSERT INTO orders (deal_id, round_id, user_id, quantity, unit_price,"
                    " status, created_at, updated_at) VALUES (?, (SELECT id FROM rounds"
                    " WHERE deal_id = ? AND number = ?), ?, 1, 1250, ?, ?, ?)",
                    (deal_id, deal_id, number, 1000 + user, status, NOW, updated),
                )

        assert await store.migrate() == engines.migration_files(store.engine.dialect)[-1][0]

        rows = await store.engine.reader.all(
            "SELECT number, joined FROM rounds WHERE deal_id = ? ORDER BY number", deal_id
        )
        assert [tuple(row) for row in rows] == [(1, 2), (2, 2)]
        view = await store.deals.deal_view(deal_id)
        assert view is not None and view.failed_round is not None
        assert view.failed_round.joined == 2
        assert [line.member.first_name for line in view.lines] == ["M1", "M2"]
        assert (view.rounds_formed, view.members, view.units) == (1, 2, 2)
        group = await store.groups.get_group(-100)
        assert group is not None and not group.pin and not group.pin_warned
