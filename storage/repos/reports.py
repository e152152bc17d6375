"""What the daily summary reads (a day's business, the rounds that ended, the rewards
written) and that it went out."""

from __future__ import annotations

from bot.core.models import Member, OrderRow, RoundStatus
from storage.repos.base import Repository, _member


class ReportsRepo(Repository):
    """The summary's queries over a day, and the note that a day's summary was sent."""

    async def orders_in_formed_rounds(self, chat_id: int, start: int, end: int) -> list[OrderRow]:
        """Confirmed orders of the rounds that formed in [start, end): a day's business."""
        return await self._order_rows(
            "d.chat_id = ? AND r.status = 'formed' AND r.closed_at >= ? AND r.closed_at < ?"
            " AND o.status = 'confirmed' ORDER BY d.id, r.number, o.id",
            chat_id,
            start,
            end,
        )

    async def rounds_closed(
        self, chat_id: int, start: int, end: int
    ) -> list[tuple[int, int, RoundStatus]]:
        """(deal id, round number, status) of the rounds that ended in [start, end)."""
        rows = await self._r.all(
            "SELECT r.deal_id, r.number, r.status FROM rounds r JOIN deals d ON d.id = r.deal_id"
            " WHERE d.chat_id = ? AND r.closed_at >= ? AND r.closed_at < ?"
            " ORDER BY r.deal_id, r.number",
            chat_id,
            start,
            end,
        )
        return [(int(r["deal_id"]), int(r["number"]), RoundStatus(r["status"])) for r in rows]

    async def rewards_between(self, chat_id: int, start: int, end: int) -> list[tuple[Member, int]]:
        """Each member's net referral rewards written in [start, end) (rewards less reversals)."""
        rows = await self._r.all(
            "SELECT m.*, SUM(l.amount) AS earned FROM ledger l JOIN members m"
            " ON m.user_id = l.user_id WHERE l.chat_id = ? AND l.kind <> 'payout'"
            " AND l.created_at >= ? AND l.created_at < ? GROUP BY m.user_id"
            " ORDER BY earned DESC, m.user_id",
            chat_id,
            start,
            end,
        )
        return [(_member(row), int(row["earned"])) for row in rows]

    async def record_summary_sent(self, chat_id: int, day: str) -> bool:
        """Note that the day's summary went out; False if it already had."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE groups SET summary_sent_on = ? WHERE chat_id = ?"
                    " AND (summary_sent_on IS NULL OR summary_sent_on < ?)",
                    day,
                    chat_id,
                    day,
                )
            )
