"""One deal in several groups: the further groups that show it (and their cards), and the
helper leaders the deal's leader invited to sell it for a commission (帮卖)."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.core.models import Deal, DealGroup, Group
from storage.repos.base import Repository, _build, _deal, _group


class SpreadRepo(Repository):
    """Where a deal is shown beyond its own group, and who helps sell it."""

    async def add_group(
        self,
        deal_id: int,
        chat_id: int,
        added_by: int,
        now: int,
        helper_id: int | None = None,
        commission: int = 0,
    ) -> bool:
        """Claim the deal's card in one more group (card 0: being posted); False if it is
        shown there already or being posted by someone else. A group whose card was lost
        (a failed post, or it became a supergroup) may be claimed again, with these terms."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "INSERT INTO deal_groups (deal_id, chat_id, card_message_id, helper_id,"
                    " commission, added_by, added_at) VALUES (?, ?, 0, ?, ?, ?, ?)"
                    " ON CONFLICT (deal_id, chat_id) DO UPDATE SET card_message_id = 0,"
                    " helper_id = excluded.helper_id, commission = excluded.commission,"
                    " added_by = excluded.added_by, added_at = excluded.added_at"
                    " WHERE deal_groups.card_message_id IS NULL",
                    deal_id,
                    chat_id,
                    helper_id,
                    commission,
                    added_by,
                    now,
                )
            )

    async def release(self, deal_id: int, chat_id: int) -> None:
        """The card could not be posted: the group may claim it again."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deal_groups SET card_message_id = NULL"
                " WHERE deal_id = ? AND chat_id = ? AND card_message_id = 0",
                (deal_id, chat_id),
            )

    async def set_card(self, deal_id: int, chat_id: int, message_id: int) -> None:
        """The deal's card in that group, to keep current."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deal_groups SET card_message_id = ? WHERE deal_id = ? AND chat_id = ?",
                (message_id, deal_id, chat_id),
            )

    async def groups_of(self, deal_id: int) -> list[DealGroup]:
        """The further groups that show the deal, in the order they were added (a card
        being posted, or lost, reads None)."""
        rows = await self._r.all(
            "SELECT deal_id, chat_id, NULLIF(card_message_id, 0) AS card_message_id,"
            " helper_id, commission FROM deal_groups WHERE deal_id = ?"
            " ORDER BY added_at, chat_id",
            deal_id,
        )
        return [_build(DealGroup, row) for row in rows]

    async def shown_in(self, chat_id: int) -> list[Deal]:
        """Other groups' open deals this group shows, soonest deadline first, each with
        this group's card as its card_message_id."""
        rows = await self._r.all(
            "SELECT d.*, NULLIF(g.card_message_id, 0) AS shown_card FROM deals d"
            " JOIN deal_groups g ON g.deal_id = d.id"
            " WHERE g.chat_id = ? AND d.status = 'open' ORDER BY d.deadline, d.id",
            chat_id,
        )
        return [replace(_deal(row), card_message_id=row["shown_card"]) for row in rows]

    async def copies_of(self, deal_id: int) -> list[Deal]:
        """The deals posted in other groups from this one (`stock: per-group`), but for
        those cancelled (a copy whose card could not be posted)."""
        rows = await self._r.all(
            "SELECT * FROM deals WHERE copied_from = ? AND status <> 'cancelled' ORDER BY id",
            deal_id,
        )
        return [_deal(row) for row in rows]

    # -- helper leaders ---------------------------------------------------------------

    async def add_helper(
        self, deal_id: int, helper_id: int, commission: int, invited_by: int, now: int
    ) -> int:
        """The helper accepted the invitation; the commission that stands (the first
        accepted: a helper's terms do not change under orders already taken)."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO deal_helpers (deal_id, helper_id, commission, invited_by,"
                " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (deal_id, helper_id, commission, invited_by, now),
            )
            row = await db.one(
                "SELECT commission FROM deal_helpers WHERE deal_id = ? AND helper_id = ?",
                deal_id,
                helper_id,
            )
        assert row is not None
        return int(row[0])

    async def helper_commission(self, deal_id: int, helper_id: int) -> int | None:
        """The commission the helper accepted for the deal, or None if they are not one."""
        row = await self._r.one(
            "SELECT commission FROM deal_helpers WHERE deal_id = ? AND helper_id = ?",
            deal_id,
            helper_id,
        )
        return int(row[0]) if row else None

    async def groups_named(self, name: str) -> list[Group]:
        """The known groups with this title (in any case, in any script) or this chat id."""
        wanted = name.casefold()
        chat_id = int(name) if _CHAT_ID.fullmatch(name) else None
        rows = await self._r.all("SELECT chat_id, title FROM groups ORDER BY chat_id")
        found = [
            int(row["chat_id"])
            for row in rows
            if int(row["chat_id"]) == chat_id or str(row["title"]).casefold() == wanted
        ]
        groups = []
        for found_id in found:
            row = await self._r.one("SELECT * FROM groups WHERE chat_id = ?", found_id)
            if row is not None:
                groups.append(_group(row))
        return groups


_CHAT_ID = re.compile(r"-?[0-9]{1,15}")
