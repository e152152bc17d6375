"""What the daily summary reads (a day's business, the rounds that ended, the rewards
written) and that it went out."""

from __future__ import annotations

from bot.core.models import Member, OrderRow, RoundStatus
from storage.repos.base import Repository, _member


class ReportsRepo(Repository):
    """The summary's queries over a day, and which leaders' summaries of a day went out."""

    async def orders_in_formed_rounds(self, chat_id: int, start: int, end: int) -> list[OrderRow]:
        """Confirmed orders of the rounds that formed in [start, end): a day's business —
        of the group's own deals, then those that came through it for other groups' deals
        it shows (/share: its members to serve, its pickup list)."""
        formed = (
            " AND r.status = 'formed' AND r.closed_at >= ? AND r.closed_at < ?"
            " AND o.status = 'confirmed' ORDER BY d.id, r.number, o.id"
        )
        own = await self._order_rows("d.chat_id = ?" + formed, chat_id, start, end)
        through = await self._order_rows(
            "o.via_chat_id = ? AND d.chat_id <> ?" + formed, chat_id, chat_id, start, end
        )
        return own + through

    async def formed_orders_between(
        self, chat_id: int, start: int, end: int
    ) -> list[tuple[int, int, int]]:
        """(round closed at, units, amount) of each confirmed order of the rounds formed in
        [start, end): the days' business in one query (the console's chart)."""
        rows = await self._r.all(
            "SELECT r.closed_at, o.quantity, o.quantity * o.unit_price AS amount"
            " FROM orders o JOIN rounds r ON r.id = o.round_id JOIN deals d ON d.id = o.deal_id"
            " WHERE d.chat_id = ? AND r.status = 'formed' AND r.closed_at >= ?"
            " AND r.closed_at < ? AND o.status = 'confirmed'",
            chat_id,
            start,
            end,
        )
        return [(int(row["closed_at"]), int(row["quantity"]), int(row["amount"])) for row in rows]

    async def rounds_closed(
        self, chat_id: int, start: int, end: int
    ) -> list[tuple[int, int, RoundStatus]]:
        """(deal id, round number, status) of the rounds that ended in [start, end): of
        the group's deals, and of other groups' deals it shows (/share)."""
        rows = await self._r.all(
            "SELECT r.deal_id, r.number, r.status FROM rounds r JOIN deals d ON d.id = r.deal_id"
            " WHERE d.chat_id = ? AND r.closed_at >= ? AND r.closed_at < ?"
            " UNION ALL SELECT r.deal_id, r.number, r.status FROM rounds r"
            " JOIN deal_groups g ON g.deal_id = r.deal_id"
            " WHERE g.chat_id = ? AND r.closed_at >= ? AND r.closed_at < ?"
            " ORDER BY 1, 2",
            chat_id,
            start,
            end,
            chat_id,
            start,
            end,
        )
        return [(int(r["deal_id"]), int(r["number"]), RoundStatus(r["status"])) for r in rows]

    async def rewards_between(
        self, chat_id: int, start: int, end: int, *, helpers: bool = False
    ) -> list[tuple[Member, int]]:
        """Each member's net referral rewards written in [start, end) (rewards less
        reversals); with `helpers`, each helper leader's net commissions instead."""
        rows = await self._r.all(
            "SELECT m.*, SUM(l.amount) AS earned FROM ledger l JOIN members m"
            " ON m.user_id = l.user_id LEFT JOIN ledger c ON c.id = l.reverses_id"
            " WHERE l.chat_id = ? AND l.kind <> 'payout'"
            " AND (COALESCE(c.kind, l.kind) = 'commission') = ?"
            " AND l.created_at >= ? AND l.created_at < ? GROUP BY m.user_id"
            " ORDER BY earned DESC, m.user_id",
            chat_id,
            helpers,
            start,
            end,
        )
        return [(_member(row), int(row["earned"])) for row in rows]

    async def record_summary_sent(self, chat_id: int, day: str) -> bool:
        """Note that the day's summary reached every leader; False if it already had.
        The leaders' claims of earlier days go (those days are over)."""
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM summary_sends WHERE chat_id = ? AND day < ?", (chat_id, day)
            )
            return bool(
                await db.change(
                    "UPDATE groups SET summary_sent_on = ? WHERE chat_id = ?"
                    " AND (summary_sent_on IS NULL OR summary_sent_on < ?)",
                    day,
                    chat_id,
                    day,
                )
            )

    # -- one leader's summary, claimed for a while ------------------------------------
    #
    # A worker claims a leader's summary until `until` (a lease), notes each message as
    # it goes out, and the last note marks it sent. A claim whose lease ran out (its
    # worker was killed) is taken again by the next worker to ask, which resumes after
    # the messages already sent; so is one of the same worker's name (the worker itself,
    # restarted: it sweeps one at a time). A live claim of another worker, or a sent
    # summary, is nobody else's.

    async def claim_summary(
        self, chat_id: int, day: str, user_id: int, worker: str, now: int, until: int
    ) -> int | None:
        """Claim the leader's summary of the day: the messages of it already sent, or
        None if it was sent or another worker's claim on it still holds."""
        async with self._transaction() as db:
            row = await db.one(
                "INSERT INTO summary_sends (chat_id, day, user_id, claimed_by, claimed_until)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, day, user_id) DO UPDATE SET"
                " claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until"
                " WHERE summary_sends.sent_at IS NULL AND (summary_sends.claimed_until <= ?"
                " OR summary_sends.claimed_by = excluded.claimed_by)"
                " RETURNING parts_sent",
                chat_id,
                day,
                user_id,
                worker,
                until,
                now,
            )
        return None if row is None else int(row["parts_sent"])

    async def note_summary_part(
        self,
        chat_id: int,
        day: str,
        user_id: int,
        worker: str,
        parts_sent: int,
        *,
        now: int,
        done: bool,
    ) -> bool:
        """Note that `parts_sent` of the leader's messages are out (and, if `done`, that
        the summary was sent); False if the claim is no longer this worker's."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE summary_sends SET parts_sent = ?, sent_at = ?"
                    " WHERE chat_id = ? AND day = ? AND user_id = ? AND claimed_by = ?"
                    " AND sent_at IS NULL",
                    parts_sent,
                    now if done else None,
                    chat_id,
                    day,
                    user_id,
                    worker,
                )
            )

    async def renew_summary_claims(self, worker: str, until: int) -> int:
        """Extend the lease of every summary this worker has claimed and not yet sent."""
        async with self._transaction() as db:
            return await db.change(
                "UPDATE summary_sends SET claimed_until = ? WHERE claimed_by = ?"
                " AND sent_at IS NULL",
                until,
                worker,
            )

    async def summaries_sent(self, chat_id: int, day: str) -> set[int]:
        """The leaders whose summary of the day has gone out in full."""
        rows = await self._r.all(
            "SELECT user_id FROM summary_sends WHERE chat_id = ? AND day = ?"
            " AND sent_at IS NOT NULL",
            chat_id,
            day,
        )
        return {int(row["user_id"]) for row in rows}
