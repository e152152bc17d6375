"""Database engines behind the one Store: SQLite (embedded, the default) and PostgreSQL.

The Store writes its SQL once, with `?` placeholders, `ON CONFLICT` upserts and
`FOR UPDATE` row locks. An engine runs it in its dialect: SQLite takes `?` as is and has
no row locks (its writes are serialised whole, under `BEGIN IMMEDIATE` and one lock);
PostgreSQL gets `$1, $2, …` and keeps `FOR UPDATE`, so several processes can share it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

log = logging.getLogger(__name__)

Row = Any  # sqlite3.Row or asyncpg.Record: both read by column name and by index
# The metrics' hook (the bot sets it): ("read" or "write", seconds) of each read
# statement and each write transaction.
Observe = Callable[[str, float], None]


class Tx(Protocol):
    """A connection inside a transaction (or the reader outside one)."""

    async def one(self, sql: str, *args: Any) -> Row | None:
        """The first row, or None."""

    async def all(self, sql: str, *args: Any) -> list[Row]:
        """Every row."""

    async def change(self, sql: str, *args: Any) -> int:
        """Run a write; how many rows it touched."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement."""

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT into a table with an `id` column; the new id."""


class _TimedReads:
    """The reader, each statement timed for the metrics' hook."""

    def __init__(self, reads: Tx, observe: Observe) -> None:
        self.reads = reads
        self.observe = observe

    async def one(self, sql: str, *args: Any) -> Row | None:
        started = time.perf_counter()
        try:
            return await self.reads.one(sql, *args)
        finally:
            self.observe("read", time.perf_counter() - started)

    async def all(self, sql: str, *args: Any) -> list[Row]:
        started = time.perf_counter()
        try:
            return await self.reads.all(sql, *args)
        finally:
            self.observe("read", time.perf_counter() - started)

    async def change(self, sql: str, *args: Any) -> int:
        return await self.reads.change(sql, *args)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.reads.execute(sql, params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self.reads.insert(sql, params)


def _timed(reads: Tx, observe: Observe | None) -> Tx:
    return reads if observe is None else _TimedReads(reads, observe)


def migration_files(dialect: str) -> list[tuple[int, str, str]]:
    """The numbered migrations of a dialect, in order: (number, name, SQL)."""
    folder = resources.files("storage").joinpath("migrations")
    if dialect == "postgres":
        folder = folder.joinpath("postgres")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class StoreUnavailable(Exception):
    """The store cannot be opened here (the message says why and what to do)."""


# -- SQLite -------------------------------------------------------------------------------

MIN_SQLITE = (3, 35)
CHECKPOINT_EVERY = 200  # commits between two background WAL checkpoints
AUTO_CHECKPOINT_PAGES = 10_000  # SQLite's own checkpoint, past ~40 MB of WAL
BUSY_TIMEOUT_MS = 5000  # how long a statement waits for another process's write lock

_ROW_LOCKS = re.compile(r"\s+FOR UPDATE(\s+SKIP LOCKED)?", re.IGNORECASE)


@cache
def _sqlite_sql(sql: str) -> str:
    """A statement as SQLite takes it: without row locks (it locks the whole file)."""
    return _ROW_LOCKS.sub("", sql)


class _SqliteTx:
    """Statements on an aiosqlite connection: each runs in the connection's own thread.

    The event loop never waits for SQLite, so another process holding the write lock
    (a backup, a `sqlite3` shell) delays only the writes, never a read or a reply. Each
    method is one trip to that thread (`execute_fetchall` fetches in the same trip):
    under a burst a trip costs a turn of the busy loop, so fewer statements mean
    shorter transactions.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def one(self, sql: str, *args: Any) -> Row | None:
        rows = await self.db.execute_fetchall(_sqlite_sql(sql), args)
        return next(iter(rows), None)

    async def all(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.db.execute_fetchall(_sqlite_sql(sql), args))

    async def change(self, sql: str, *args: Any) -> int:
        cursor = await self.db.execute(sql, args)
        return int(cursor.rowcount)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.db.execute_fetchall(_sqlite_sql(sql), tuple(params))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = await self.db.execute_insert(sql, tuple(params))
        assert row is not None
        return int(row[0])


class SqliteEngine:
    """One SQLite file in WAL mode: a write connection used under one lock, a read one beside.

    Every write is an explicit ``BEGIN IMMEDIATE … COMMIT`` under ``self._lock``, so that
    no other coroutine's statements run inside an open transaction between awaits. Reads
    use their own connection, so they only ever see committed state and never wait for
    the write lock (WAL readers do not). Each connection is an aiosqlite one: its
    statements run in its thread, off the event loop.
    """

    dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.observe: Observe | None = None

    async def open(self) -> None:
        """Connect, switch to WAL and bring the schema up to date."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            needed = ".".join(map(str, MIN_SQLITE))
            raise StoreUnavailable(
                f"SQLite {needed} or newer is needed (for RETURNING); this Python's is "
                f"{sqlite3.sqlite_version}. Use a Python built against a newer SQLite."
            )
        self._writer = await self._connect()
        await self._writer.execute_fetchall("PRAGMA journal_mode = WAL")
        # Checkpoints (copying the WAL into the file, with an fsync) run on their own
        # connection every CHECKPOINT_EVERY commits; SQLite's own, on a commit, only past
        # a far larger WAL, as a safety net. Measured on 2,000 joins: 1 % of commits
        # carried a checkpoint of 5-9 ms, 42 % of all commit time, stalling every tap.
        await self._writer.execute_fetchall(f"PRAGMA wal_autocheckpoint = {AUTO_CHECKPOINT_PAGES}")
        self._reader = await self._connect()
        self._checkpointer = await self._connect()
        await self.migrate()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: no implicit transactions; every write says BEGIN itself.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = sqlite3.Row
        for pragma in (
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "foreign_keys = ON",
            "synchronous = NORMAL",
        ):
            await db.execute_fetchall(f"PRAGMA {pragma}")
        return db

    async def close(self) -> None:
        """Close the connections (after a checkpoint under way); safe to call twice."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
            self._checkpoint = None
        for db in (self._checkpointer, self._reader, self._writer):
            if db is not None:
                await db.close()
        self._checkpointer = self._reader = self._writer = None

    def _committed(self) -> None:
        """Count a commit; every CHECKPOINT_EVERY, checkpoint the WAL in the background."""
        self._commits += 1
        running = self._checkpoint is not None and not self._checkpoint.done()
        if self._commits >= CHECKPOINT_EVERY and not running:
            self._commits = 0
            self._checkpoint = asyncio.create_task(self._checkpoint_wal())

    async def _checkpoint_wal(self) -> None:
        """PASSIVE: copies what it can without waiting for, or blocking, anyone."""
        db = self._checkpointer
        if db is None:
            return
        try:
            await db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed (SQLite will checkpoint later): %s", exc)

    @property
    def reader(self) -> Tx:
        """Reads outside any transaction: committed state only."""
        assert self._reader is not None, "store is not open"
        return _timed(_SqliteTx(self._reader), self.observe)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One write transaction at a time, ``BEGIN IMMEDIATE`` to ``COMMIT``."""
        assert self._writer is not None, "store is not open"
        started = time.perf_counter()
        async with self._lock:
            db = self._writer
            try:
                await db.execute_fetchall("BEGIN IMMEDIATE")
                yield _SqliteTx(db)
                await db.execute_fetchall("COMMIT")
            except BaseException:
                # Also after a cancelled BEGIN, still queued for the connection's thread:
                # the ROLLBACK follows it there, before any other transaction's BEGIN.
                await _rollback(db)
                raise
            finally:
                if self.observe is not None:
                    self.observe("write", time.perf_counter() - started)
            self._committed()

    async def schema_version(self) -> int:
        """The number of the last migration applied (committed, read beside the writer)."""
        assert self._reader is not None, "store is not open"
        rows = list(await self._reader.execute_fetchall("PRAGMA user_version"))
        return int(rows[0][0]) if rows else 0

    async def migrate(self) -> int:
        """Apply every migration newer than the file's schema; the version reached."""
        assert self._writer is not None, "store is not open"
        version = await self.schema_version()
        for number, name, sql in migration_files(self.dialect):
            if number <= version:
                continue
            async with self._lock:
                try:
                    # The whole file and the version move in one transaction: a failed
                    # migration leaves the file as it was.
                    await self._writer.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
                    )
                except BaseException:
                    await _rollback(self._writer)
                    raise
            log.info("applied migration %s", name)
            version = number
        return version


async def _rollback(db: aiosqlite.Connection) -> None:
    """Roll back whatever is open; nothing is when SQLite already rolled back itself."""
    try:
        await db.execute_fetchall("ROLLBACK")
    except sqlite3.OperationalError as exc:
        log.debug("nothing to roll back: %s", exc)


# -- PostgreSQL ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (our SQL has no `?` in literals)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def one(self, sql: str, *args: Any) -> Row | None:
        return await self.conn.fetchrow(_numbered(sql), *args)

    async def all(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.conn.fetch(_numbered(sql), *args))

    async def change(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(_numbered(sql), *args)
        # "UPDATE 3", "INSERT 0 1", "DELETE 0": the last word is the row count.
        return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.conn.execute(_numbered(sql), *params)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(await self.conn.fetchval(_numbered(sql) + " RETURNING id", *params))


class _PoolReader:
    """Reads on any pooled connection, outside a transaction."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def one(self, sql: str, *args: Any) -> Row | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(_numbered(sql), *args)

    async def all(self, sql: str, *args: Any) -> list[Row]:
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(_numbered(sql), *args))

    async def change(self, sql: str, *args: Any) -> int:
        raise AssertionError("writes belong in a transaction")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise AssertionError("writes belong in a transaction")

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise AssertionError("writes belong in a transaction")


MIGRATION_LOCK = 4711  # the advisory lock one worker holds while it creates or migrates


class PostgresEngine:
    """A PostgreSQL database shared by any number of bot processes (asyncpg pool).

    Transactions are READ COMMITTED; what must not race takes a row lock first
    (`SELECT … FOR UPDATE` on the deal) and checks with conditional UPDATEs, so no Python
    lock is needed and several workers can write at once.
    """

    dialect = "postgres"

    def __init__(self, url: str, schema: str = "public", pool_size: int = 10) -> None:
        self.url = url
        self.schema = schema
        self.pool_size = pool_size
        self._pool: Any = None
        self.observe: Observe | None = None

    async def open(self) -> None:
        """Connect, create the schema if need be and bring it up to date."""
        import asyncpg  # only operators who chose PostgreSQL need it installed

        try:
            admin = await asyncpg.connect(self.url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(
                f"cannot reach PostgreSQL ({exc}); check that the server runs and that"
                " its URL is right"
            ) from exc
        try:
            # CREATE SCHEMA IF NOT EXISTS is not safe against itself: two workers
            # starting together can both find the schema missing and one then fails
            # on the catalogue's unique index. The migration lock lets one in at a time.
            async with admin.transaction():
                await admin.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        finally:
            await admin.close()
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            server_settings={"search_path": self.schema},
        )
        await self.migrate()

    async def close(self) -> None:
        """Close the pool; safe to call twice."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def reader(self) -> Tx:
        """Reads outside any transaction."""
        assert self._pool is not None, "store is not open"
        return _timed(_PoolReader(self._pool), self.observe)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """A transaction on a pooled connection, rolled back on any error."""
        assert self._pool is not None, "store is not open"
        started = time.perf_counter()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PostgresTx(conn)
        finally:
            if self.observe is not None:
                self.observe("write", time.perf_counter() - started)

    async def schema_version(self) -> int:
        """The number of the last migration applied."""
        row = await self.reader.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> int:
        """Apply every newer migration, each in a transaction, one process at a time."""
        assert self._pool is not None, "store is not open"
        async with self._pool.acquire() as conn:
            # Two workers starting together must not both migrate: an advisory lock
            # (held to the end of the transaction) lets one in at a time.
            async with conn.transaction():
                await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version"
                    " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
                )
                version = int(
                    await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                )
                for number, name, sql in migration_files(self.dialect):
                    if number <= version:
                        continue
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
                    log.info("applied migration %s", name)
                    version = number
        return version
