"""A formed round's messages, owed until noted: the group announcement and each confirmed
order's confirmation (or invoice). The closing transaction leases them to the worker that
closed the round (RoundsRepo._close_round sets rounds.notice_lease_until); that worker
notes each message as it goes out, which renews the lease, and clears the lease once
nothing is owed. A lease that ran out (its worker was killed) is taken over by the next
sweep, which rebuilds what is owed from the store (migration 0017)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.models import ClosedRound, Line
from storage.repos.base import Repository, _deal, _round

# How long a worker holds a formed round's messages without a note or a sweep's renewal:
# three default sweeps (30 s), so a live worker keeps the rounds it is still sending.
NOTICE_LEASE = 90


@dataclass(frozen=True)
class Owed:
    """A formed round whose messages were not all noted as sent: whether its announcement
    is owed, and the lines whose confirmations are (first joiner first)."""

    closed: ClosedRound
    announce: bool
    confirm: list[Line]


class NoticesRepo(Repository):
    """Notes of a formed round's messages, and the lease on sending them."""

    async def note_announced(self, round_id: int, now: int, until: int) -> None:
        """The round's group announcement went out; the lease runs on."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE rounds SET announced_at = ?, notice_lease_until = ? WHERE id = ?",
                (now, until, round_id),
            )

    async def note_confirmed(self, order_id: int, now: int, until: int) -> None:
        """The order's confirmation (or invoice) went out; its round's lease runs on."""
        async with self._transaction() as db:
            await db.execute("UPDATE orders SET confirm_sent_at = ? WHERE id = ?", (now, order_id))
            await db.execute(
                "UPDATE rounds SET notice_lease_until = ? WHERE id = (SELECT round_id"
                " FROM orders WHERE id = ?) AND notice_lease_until IS NOT NULL",
                (until, order_id),
            )

    async def finish(self, round_id: int, now: int) -> None:
        """Everything the round owed went out (an empty round owes nothing): no lease."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE rounds SET announced_at = COALESCE(announced_at, ?),"
                " notice_lease_until = NULL WHERE id = ?",
                (now, round_id),
            )

    async def renew(self, round_ids: Iterable[int], until: int) -> None:
        """This worker is still sending these rounds' messages: hold them until `until`."""
        ids = sorted(round_ids)
        if not ids:
            return
        marks = ", ".join("?" * len(ids))
        async with self._transaction() as db:
            await db.execute(
                f"UPDATE rounds SET notice_lease_until = ? WHERE id IN ({marks})"
                " AND notice_lease_until IS NOT NULL",
                (until, *ids),
            )

    async def take_over(self, now: int, until: int) -> list[Owed]:
        """Claim, until `until`, every formed round whose lease ran out while it still
        owes messages, and what each owes. One conditional UPDATE claims them, so of
        several workers sweeping at once only one takes each round."""
        async with self._transaction() as db:
            rows = await db.all(
                "UPDATE rounds SET notice_lease_until = ? WHERE status = 'formed'"
                " AND notice_lease_until IS NOT NULL AND notice_lease_until <= ?"
                " RETURNING *",
                until,
                now,
            )
            owed = []
            for row in sorted(rows, key=lambda r: int(r["id"])):
                closed_round = _round(row)
                deal_row = await db.one("SELECT * FROM deals WHERE id = ?", closed_round.deal_id)
                assert deal_row is not None
                lines = await self._lines(db, closed_round.id)
                sent = {
                    int(r["id"])
                    for r in await db.all(
                        "SELECT id FROM orders WHERE round_id = ? AND confirm_sent_at IS NOT NULL",
                        closed_round.id,
                    )
                }
                following = await db.one(
                    "SELECT number FROM rounds WHERE deal_id = ? AND number = ?",
                    closed_round.deal_id,
                    closed_round.number + 1,
                )
                closed = ClosedRound(
                    deal=_deal(deal_row),
                    round=closed_round,
                    lines=lines,
                    next_round=int(following["number"]) if following else None,
                )
                owed.append(
                    Owed(
                        closed=closed,
                        announce=row["announced_at"] is None,
                        confirm=[line for line in lines if line.order_id not in sent],
                    )
                )
        return owed
