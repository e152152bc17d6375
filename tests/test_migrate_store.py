"""Moving from SQLite to PostgreSQL: everything copied, verified, safe to run again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.forms import parse_deal_form
from bot.core.models import Member
from storage import PostgresEngine, SqliteEngine, Store
from storage.copy import TABLES
from tests.conftest import POSTGRES_URL, World, drop_schema, operator_env

ROOT = Path(__file__).resolve().parent.parent
UTC_ZONE = ZoneInfo("UTC")


def migrate_store(source: Path, schema: str) -> subprocess.CompletedProcess[str]:
    env = operator_env(GROUPBUY_TELEGRAM__TOKEN="1:abc")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "migrate-store",
            "--from",
            f"sqlite:///{source}",
            "--to",
            POSTGRES_URL,
            "--schema",
            schema,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=source.parent,
        timeout=120,
    )


async def test_every_table_of_the_store_is_copied(tmp_path: Path) -> None:
    """A table a migration adds must be moved over too (else it is lost silently)."""
    store = Store(SqliteEngine(tmp_path / "tables.db"))
    await store.open()
    try:
        rows = await store.engine.reader.all(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'"
        )
    finally:
        await store.close()
    assert {row[0] for row in rows} == set(TABLES)
    assert len(TABLES) == len(set(TABLES))


def test_migrate_store_names_what_it_takes(tmp_path: Path) -> None:
    result = migrate_store(tmp_path / "missing.db", "public")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr


if POSTGRES_URL:

    async def test_a_busy_sqlite_store_moves_to_postgres_whole(sqlite_world: World) -> None:
        world = sqlite_world
        await world.leader.says_and_hears("/settings reward 10%")
        card = await world.leader.posts("Figs\nprice: 2.50\nmin: 2\ndeadline: 1d")
        for name in ("Ann", "Bo", "Cy"):
            await world.member(name).taps("Join", card)
        await world.settle()
        source = world.service.store.path
        schema = f"t_{uuid.uuid4().hex[:12]}"
        try:
            first = await asyncio.to_thread(migrate_store, source, schema)
            again = await asyncio.to_thread(migrate_store, source, schema)
            assert first.returncode == 0, first.stdout + first.stderr
            assert "orders: 3 → 3 rows" in first.stdout
            assert again.returncode == 0 and "MISMATCH" not in again.stdout, "safe to re-run"

            store = Store(PostgresEngine(POSTGRES_URL, schema))
            await store.open()
            try:
                view = await store.deals.deal_view(1)
                assert view is not None and view.deal.title == "Figs"
                assert [line.member.name for line in view.lines] == ["Cy"]  # round 2
                assert view.rounds_formed == 1
                form = parse_deal_form(
                    "Kiwi\nprice: 1\nmin: 2\ndeadline: 2h", now=world.clock.now(), tz=UTC_ZONE
                )
                deal = await store.deals.create_deal(  # new ids continue after the copied ones
                    chat_id=view.deal.chat_id,
                    leader=Member(user_id=1001, first_name="Lena"),
                    form=form,
                    photo_file_id=None,
                    currency="CNY",
                    now=world.clock.timestamp(),
                )
                assert deal.id == 2
            finally:
                await store.close()
        finally:
            await drop_schema(schema)
