"""The store: every read and write in domain words, on SQLite (default) or PostgreSQL."""

from __future__ import annotations

from storage.engines import PostgresEngine, SqliteEngine
from storage.store import Store

__all__ = ["PostgresEngine", "SqliteEngine", "Store", "open_store"]


def open_store(path: str, url: str | None = None, schema: str = "public") -> Store:
    """A Store on PostgreSQL if `url` says postgresql://…, else on the SQLite file `path`."""
    if url and url.startswith(("postgresql://", "postgres://")):
        return Store(PostgresEngine(url, schema))
    return Store(SqliteEngine(path))
