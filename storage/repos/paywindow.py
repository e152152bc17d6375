"""The payment window: confirmed orders awaiting payment in groups that set one, the one
reminder each gets, and the release of those whose window ended."""

from __future__ import annotations

from bot.core.models import OrderRow
from bot.core.paywindow import Awaiting, Released
from storage.engines import PostgresEngine, SqliteEngine
from storage.repos.base import Repository
from storage.repos.ledger import LedgerRepo
from storage.repos.waitlist import WaitlistRepo

# Confirmed orders neither paid nor claimed paid ("I've paid" waits for the leader), nor
# collected, in a group with a payment window, confirmed since the window was set (turning
# it on never reaches back to old orders settled outside the bot): those the window
# applies to. An order was confirmed when its round closed (formed).
_AWAITING = (
    " FROM orders o JOIN rounds r ON r.id = o.round_id JOIN deals d ON d.id = o.deal_id"
    " JOIN groups g ON g.chat_id = d.chat_id"
    " WHERE g.pay_within > 0 AND o.status = 'confirmed' AND o.paid_at IS NULL"
    " AND o.paid_claimed_at IS NULL AND o.collected_at IS NULL"
    " AND COALESCE(r.closed_at, o.updated_at) >= g.pay_within_at"
)
# When such an order was confirmed (a formed round always has its closed_at), and when
# its window ends (bot.core.paywindow.Awaiting.due_at, in SQL).
_CONFIRMED_AT = "COALESCE(r.closed_at, o.updated_at)"
_DUE_AT = (
    f"(CASE WHEN {_CONFIRMED_AT} > g.pay_within_at THEN {_CONFIRMED_AT}"
    " ELSE g.pay_within_at END) + g.pay_within"
)


class PayWindowRepo(Repository):
    """Unpaid orders against their group's window: reminded once, released once.

    Both writes are conditional on the order still awaiting payment, so several workers
    sweeping at once remind and release each order once: only the one whose UPDATE
    changed the row acts on it.
    """

    def __init__(
        self, engine: SqliteEngine | PostgresEngine, *, waitlist: WaitlistRepo, ledger: LedgerRepo
    ) -> None:
        super().__init__(engine)
        self._waitlist = waitlist
        self._ledger = ledger

    async def awaiting(self) -> list[Awaiting]:
        """Every order the payment windows apply to now, oldest first."""
        rows = await self._r.all(
            f"SELECT o.id, o.deal_id, d.chat_id, {_CONFIRMED_AT} AS confirmed_at, g.pay_within,"
            f" g.pay_within_at, o.pay_reminded_at {_AWAITING} ORDER BY o.id"
        )
        return [
            Awaiting(
                order_id=int(row["id"]),
                deal_id=int(row["deal_id"]),
                chat_id=int(row["chat_id"]),
                confirmed_at=int(row["confirmed_at"]),
                window=int(row["pay_within"]),
                window_set_at=int(row["pay_within_at"]),
                reminded=row["pay_reminded_at"] is not None,
            )
            for row in rows
        ]

    async def mark_reminded(self, order_id: int, now: int) -> bool:
        """Note the order's reminder; False if it had one, or no longer awaits payment."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE orders SET pay_reminded_at = ? WHERE id = ?"
                    " AND pay_reminded_at IS NULL AND status = 'confirmed' AND paid_at IS NULL"
                    " AND paid_claimed_at IS NULL AND collected_at IS NULL",
                    now,
                    order_id,
                )
            )

    async def release(self, deal_id: int, order_ids: list[int], now: int) -> Released | None:
        """Cancel these orders of the deal as unpaid, those still awaiting payment whose
        window has ended, in one transaction: their referral rewards reversed, their
        units given back and offered to the waitlist first. None if the deal is gone."""
        marks = ", ".join("?" * len(order_ids))
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)  # the deal first, as every writer does
            if deal is None or not order_ids:
                return None
            released = list(
                await db.all(
                    "UPDATE orders SET status = 'cancelled', cancel_reason = 'unpaid',"
                    " released_at = ?, updated_at = ?"
                    # The conditions again on the row itself: PostgreSQL re-checks only
                    # those when a payment committing at this moment held the row.
                    " WHERE status = 'confirmed' AND paid_at IS NULL AND paid_claimed_at IS NULL"
                    " AND collected_at IS NULL"
                    f" AND deal_id = ? AND id IN ({marks}) AND id IN (SELECT o.id {_AWAITING}"
                    f" AND {_DUE_AT} <= ?) RETURNING id, quantity, option_id",
                    now,
                    now,
                    deal_id,
                    *order_ids,
                    now,
                )
            )
            if not released:
                return Released(deal)
            ids = [int(row["id"]) for row in released]
            await self._ledger.reverse_order_rewards(db, ids, now)
            await self._release(db, deal_id, released)
            offers = await self._waitlist.offer_freed(db, deal_id, now)
            deal = await self._reload_deal(db, deal_id)
        rows = await self._order_rows(f"o.id IN ({', '.join('?' * len(ids))}) ORDER BY o.id", *ids)
        return Released(deal, rows, offers)

    async def released_between(self, chat_id: int, start: int, end: int) -> list[OrderRow]:
        """The group's orders released unpaid in [start, end), deal by deal."""
        return await self._order_rows(
            "d.chat_id = ? AND o.cancel_reason = 'unpaid' AND o.released_at >= ?"
            " AND o.released_at < ? ORDER BY d.id, o.id",
            chat_id,
            start,
            end,
        )
