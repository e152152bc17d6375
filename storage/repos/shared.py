"""Shared deal cards: copies of a deal's card sent into other chats through inline mode,
and the deals a member may share."""

from __future__ import annotations

from collections.abc import Collection

from bot.core.models import Deal
from bot.core.sharing import SharedCopy
from storage.engines import Row
from storage.repos.base import Repository, _deal


class SharedRepo(Repository):
    """The copies of each deal's card that the bot keeps current, and who shared them."""

    async def add_copy(
        self, inline_message_id: str, deal_id: int, sharer_id: int | None, now: int
    ) -> SharedCopy:
        """Record a copy (once); a sharer learnt later (the chosen result came after a
        tap on the copy) is filled in, a known one never changes. The copy as stored."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO shared_cards (inline_message_id, deal_id, sharer_id, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (inline_message_id) DO UPDATE"
                " SET sharer_id = COALESCE(shared_cards.sharer_id, excluded.sharer_id)",
                (inline_message_id, deal_id, sharer_id, now),
            )
            row = await db.one(
                "SELECT * FROM shared_cards WHERE inline_message_id = ?", inline_message_id
            )
        assert row is not None
        return _copy(row)

    async def get_copy(self, inline_message_id: str) -> SharedCopy | None:
        """One copy, or None if the bot has not seen it."""
        row = await self._r.one(
            "SELECT * FROM shared_cards WHERE inline_message_id = ?", inline_message_id
        )
        return _copy(row) if row else None

    async def live_copies(self, deal_id: int) -> list[SharedCopy]:
        """The deal's copies still kept current, newest first."""
        rows = await self._r.all(
            "SELECT * FROM shared_cards WHERE deal_id = ? AND retired_at IS NULL ORDER BY id DESC",
            deal_id,
        )
        return [_copy(row) for row in rows]

    async def retire(self, inline_message_id: str, now: int) -> None:
        """The copy is no longer kept current (it now links to the current card)."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE shared_cards SET retired_at = ? WHERE inline_message_id = ?",
                (now, inline_message_id),
            )

    async def drop(self, inline_message_id: str) -> None:
        """Forget a copy that no longer exists (deleted from its chat)."""
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM shared_cards WHERE inline_message_id = ?", (inline_message_id,)
            )

    async def candidate_groups(self, user_id: int) -> list[int]:
        """Groups the member may lead: where they posted a deal, or were named a leader
        (the caller confirms each)."""
        rows = await self._r.all(
            "SELECT DISTINCT chat_id FROM deals WHERE leader_id = ?"
            " UNION SELECT chat_id FROM group_leaders WHERE user_id = ?",
            user_id,
            user_id,
        )
        return sorted(int(row[0]) for row in rows)

    async def shareable_deals(
        self, user_id: int, led: Collection[int] | None, start: int, count: int
    ) -> list[Deal]:
        """Open deals of the groups in `led` (None: every group) and open deals the member
        has an order in, newest first, `count` from `start`."""
        ids = () if led is None else tuple(led)
        marks = ", ".join("?" for _ in ids) or "NULL"
        groups = "1 = 1" if led is None else f"d.chat_id IN ({marks})"
        rows = await self._r.all(
            "SELECT * FROM deals d WHERE d.status = 'open' AND"
            f" ({groups} OR EXISTS (SELECT 1 FROM orders o"
            "  WHERE o.deal_id = d.id AND o.user_id = ? AND o.status <> 'cancelled'))"
            " ORDER BY d.id DESC LIMIT ? OFFSET ?",
            *ids,
            user_id,
            count,
            start,
        )
        return [_deal(row) for row in rows]


def _copy(row: Row) -> SharedCopy:
    sharer = row["sharer_id"]
    return SharedCopy(
        inline_message_id=str(row["inline_message_id"]),
        deal_id=int(row["deal_id"]),
        sharer_id=None if sharer is None else int(sharer),
        created_at=int(row["created_at"]),
    )
