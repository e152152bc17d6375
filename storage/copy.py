"""Moving over: copy an SQLite store into PostgreSQL, verify it, and be safe to run again."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.engines import PostgresEngine, SqliteEngine

# Parents before children, so that every foreign key finds its row.
TABLES = (
    "groups",
    "members",
    "deals",
    "deal_groups",
    "deal_helpers",
    "shared_cards",
    "rounds",
    "deal_options",
    "pickup_points",
    "deal_pickups",
    "orders",
    "order_marks",
    "referrals",
    "ledger",
    "group_invites",
    "group_leaders",
    "payment_reminders",
    "waitlist",
    "taps",
    "updates_seen",
    "summary_sends",
)
# Tables whose ids PostgreSQL hands out: its counters must start past the copied ids.
IDENTITY_TABLES = (
    "deals",
    "rounds",
    "deal_options",
    "pickup_points",
    "orders",
    "order_marks",
    "ledger",
    "waitlist",
    "shared_cards",
)
# What must add up the same on both sides, beyond the row counts.
SUMS = {
    "orders": "COALESCE(SUM(quantity), 0) + COALESCE(SUM(quantity * unit_price), 0)",
    "ledger": "COALESCE(SUM(amount), 0)",
    "deals": "COALESCE(SUM(taken), 0)",
}


@dataclass(frozen=True)
class TableCheck:
    """One table compared after the copy."""

    table: str
    source_rows: int
    target_rows: int
    source_sum: int | None = None
    target_sum: int | None = None

    @property
    def ok(self) -> bool:
        """Same rows, same sums."""
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


async def copy_store(source: Path, target_url: str, schema: str = "public") -> list[TableCheck]:
    """Copy every row from the SQLite file into PostgreSQL (rows already there are kept)."""
    upgrade = SqliteEngine(source)  # the source at the latest schema, so every table exists
    await upgrade.open()
    await upgrade.close()
    engine = PostgresEngine(target_url, schema)
    await engine.open()  # creates the schema and applies the migrations
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            for table in TABLES:
                rows = db.execute(f"SELECT * FROM {table}").fetchall()
                if not rows:
                    continue
                columns = list(rows[0].keys())
                marks = ", ".join("?" for _ in columns)
                sql = (
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                    " ON CONFLICT DO NOTHING"
                )
                async with engine.transaction() as tx:
                    for row in rows:
                        await tx.execute(sql, tuple(row))
            async with engine.transaction() as tx:
                for table in IDENTITY_TABLES:
                    await tx.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
                    )
            return [await _check(db, engine, table) for table in TABLES]
    finally:
        await engine.close()


async def _check(db: sqlite3.Connection, engine: PostgresEngine, table: str) -> TableCheck:
    source_rows = int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    target = await engine.reader.one(f"SELECT COUNT(*) FROM {table}")
    sums: dict[str, Any] = {}
    if table in SUMS:
        sums["source_sum"] = int(db.execute(f"SELECT {SUMS[table]} FROM {table}").fetchone()[0])
        row = await engine.reader.one(f"SELECT {SUMS[table]} FROM {table}")
        sums["target_sum"] = int(row[0]) if row else None
    return TableCheck(table, source_rows, int(target[0]) if target else 0, **sums)
