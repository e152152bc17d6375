"""Deliveries: each update and each tap handled once, however often Telegram sends it."""

from __future__ import annotations

from bot.core.errors import UserError
from bot.core.models import Member
from storage.engines import PostgresEngine, SqliteEngine, Tx
from storage.repos.base import Repository
from storage.repos.groups import GroupsRepo


class DeliveriesRepo(Repository):
    """Updates and taps claimed for handling, and the records of them forgotten in time.

    `claim_tap` is a step inside the transaction of the join or leave it counts for.
    """

    def __init__(self, engine: SqliteEngine | PostgresEngine, groups: GroupsRepo) -> None:
        super().__init__(engine)
        self._groups = groups

    async def claim_tap(self, db: Tx, tap_id: str | None, now: int) -> None:
        """Record the tap inside its own transaction; a second delivery raises UserError."""
        if tap_id is None:
            return
        if not await db.change(
            "INSERT INTO taps (query_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            tap_id,
            now,
        ):
            raise UserError("tap_duplicate")

    async def first_delivery(self, update_id: int, now: int, sender: Member | None) -> bool:
        """Claim an update for handling; False if it was delivered (and claimed) before.

        The sender is remembered on the way (when new or changed), so leaders can name
        members by @username.
        """
        known = await self._groups.get_member(sender.user_id) if sender is not None else None
        async with self._transaction() as db:
            first = await db.change(
                "INSERT INTO updates_seen (update_id, seen_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                update_id,
                now,
            )
            if first and sender is not None and sender != known:
                await self._groups.write_member(db, sender, now)
            return bool(first)

    async def forget_deliveries(self, before: int) -> None:
        """Drop delivery records older than Telegram ever redelivers."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM taps WHERE seen_at < ?", (before,))
            await db.execute("DELETE FROM updates_seen WHERE seen_at < ?", (before,))
