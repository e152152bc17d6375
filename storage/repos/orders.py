"""Orders: read with what they belong to, marked paid or collected, claimed paid by
their members, and reminded of."""

from __future__ import annotations

from collections.abc import Collection

from bot.core.errors import UserError
from bot.core.models import Member, OrderRow
from storage.engines import Tx
from storage.repos.base import _USERNAME_HOLDER, Repository, _member

MARKS = ("paid", "collected")


class OrdersRepo(Repository):
    """Orders once taken: who ordered what, their marks, claims and reminders."""

    # -- reading orders ---------------------------------------------------------------

    async def get_order(self, order_id: int) -> OrderRow | None:
        """One order with its context."""
        rows = await self._order_rows("o.id = ?", order_id)
        return rows[0] if rows else None

    async def order_by_code(self, code: str) -> OrderRow | None:
        """The confirmed order a collection code belongs to."""
        rows = await self._order_rows("o.code = ?", code.strip().upper())
        return rows[0] if rows else None

    async def orders_of_deal(self, deal_id: int) -> list[OrderRow]:
        """Every order of a deal, whatever its status, in the order they came."""
        return await self._order_rows("o.deal_id = ? ORDER BY r.number, o.id", deal_id)

    async def orders_of_member(self, user_id: int, limit: int = 30) -> list[OrderRow]:
        """A member's most recent orders across groups, newest first."""
        return await self._order_rows("o.user_id = ? ORDER BY o.id DESC LIMIT ?", user_id, limit)

    async def member_orders_in_deal(self, deal_id: int, who: str | int) -> list[OrderRow]:
        """A member's confirmed orders in a deal; `who` is a user id or a @username."""
        value: str | int
        if isinstance(who, int):
            condition, value = "o.user_id = ?", who
        else:
            condition, value = f"o.user_id = ({_USERNAME_HOLDER})", who.lstrip("@")
        return await self._order_rows(
            f"o.deal_id = ? AND o.status = 'confirmed' AND {condition} ORDER BY o.id",
            deal_id,
            value,
        )

    async def unpaid_orders(self, chat_id: int) -> list[OrderRow]:
        """Confirmed orders of the group not marked paid, member by member."""
        return await self._order_rows(
            "d.chat_id = ? AND o.status = 'confirmed' AND o.paid_at IS NULL"
            " ORDER BY m.first_name, m.user_id, o.id",
            chat_id,
        )

    # -- refunds ----------------------------------------------------------------------

    async def refunds_owed(self, chat_id: int) -> list[OrderRow]:
        """Paid orders since cancelled and not yet refunded, oldest first."""
        return await self._order_rows(
            "d.chat_id = ? AND o.refund_due_at IS NOT NULL AND o.refunded_at IS NULL"
            " ORDER BY o.refund_due_at, o.id",
            chat_id,
        )

    async def refunds_of_deal(self, deal_id: int) -> list[OrderRow]:
        """A deal's orders owed back (after it was cancelled), in order."""
        return await self._order_rows(
            "o.deal_id = ? AND o.refund_due_at IS NOT NULL AND o.refunded_at IS NULL ORDER BY o.id",
            deal_id,
        )

    async def mark_refunded(self, order_id: int, by_user: int, now: int) -> bool:
        """Record an owed order refunded (once); False if it was not owed or already done."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE orders SET refunded_at = ?, refunded_by = ? WHERE id = ?"
                    " AND refund_due_at IS NOT NULL AND refunded_at IS NULL",
                    now,
                    by_user,
                    order_id,
                )
            )

    # -- marks and payment claims -----------------------------------------------------

    async def mark_orders(
        self, order_ids: list[int], mark: str, value: bool, by_user: int, now: int
    ) -> list[int]:
        """Set or undo a paid/collected mark on confirmed orders; return those that changed.

        The order keeps the current state; order_marks keeps who did what when.
        """
        changed: list[int] = []
        async with self._transaction() as db:
            for order_id in order_ids:
                if await self._set_mark(db, order_id, mark, value, by_user, now) is not None:
                    changed.append(order_id)
        return changed

    @staticmethod
    async def _set_mark(
        db: Tx, order_id: int, mark: str, value: bool, by_user: int, now: int
    ) -> int | None:
        """Set or clear a confirmed order's mark if that changes it; the order_marks entry
        that records it, or None if nothing changed."""
        assert mark in MARKS
        unmarked = "IS NULL" if value else "IS NOT NULL"  # only a real change counts
        touched = await db.change(
            f"UPDATE orders SET {mark}_at = ?, {mark}_by = ?"
            f" WHERE id = ? AND status = 'confirmed' AND {mark}_at {unmarked}",
            now if value else None,
            by_user if value else None,
            order_id,
        )
        if not touched:
            return None
        return await db.insert(
            "INSERT INTO order_marks (order_id, mark, value, by_user, at) VALUES (?, ?, ?, ?, ?)",
            (order_id, mark, int(value), by_user, now),
        )

    # -- marking a member's orders by name --------------------------------------------

    async def members_with_orders(self, chat_ids: Collection[int]) -> list[Member]:
        """Everyone who has ordered in these groups' deals, whatever became of the order."""
        if not chat_ids:
            return []
        rows = await self._r.all(
            "SELECT * FROM members WHERE user_id IN (SELECT o.user_id FROM orders o"
            f" JOIN deals d ON d.id = o.deal_id WHERE d.chat_id IN ({_marks(chat_ids)}))"
            " ORDER BY user_id",
            *chat_ids,
        )
        return [_member(row) for row in rows]

    async def unmarked_orders_of_member(
        self, chat_ids: Collection[int], user_id: int, mark: str
    ) -> list[OrderRow]:
        """A member's confirmed orders lacking the mark in these groups' deals, deal by deal."""
        assert mark in MARKS
        if not chat_ids:
            return []
        return await self._order_rows(
            f"d.chat_id IN ({_marks(chat_ids)}) AND o.user_id = ? AND o.status = 'confirmed'"
            f" AND o.{mark}_at IS NULL ORDER BY d.id, o.id",
            *chat_ids,
            user_id,
        )

    async def mark_member_in_deal(
        self, deal_id: int, user_id: int, mark: str, by_user: int, now: int
    ) -> tuple[list[int], int, int] | None:
        """Mark every confirmed order of the member in the deal that lacks the mark, in one
        transaction: (the orders marked, the first and the last order_marks entry), or None
        if there was none to mark."""
        assert mark in MARKS
        changed: list[int] = []
        entries: list[int] = []
        async with self._transaction() as db:
            rows = await db.all(
                "SELECT id FROM orders WHERE deal_id = ? AND user_id = ?"
                f" AND status = 'confirmed' AND {mark}_at IS NULL ORDER BY id",
                deal_id,
                user_id,
            )
            for row in rows:
                entry = await self._set_mark(db, row["id"], mark, True, by_user, now)
                if entry is not None:
                    changed.append(row["id"])
                    entries.append(entry)
        return (changed, entries[0], entries[-1]) if changed else None

    async def mark_batch(self, first_entry: int) -> tuple[int, int, str] | None:
        """(deal id, member's user id, mark) of the batch whose first entry this is."""
        row = await self._r.one(
            "SELECT o.deal_id, o.user_id, e.mark FROM order_marks e"
            " JOIN orders o ON o.id = e.order_id WHERE e.id = ? AND e.value = 1",
            first_entry,
        )
        return None if row is None else (row["deal_id"], row["user_id"], row["mark"])

    async def undo_mark_batch(
        self, first_entry: int, last_entry: int, by_user: int, now: int
    ) -> tuple[int, int]:
        """Clear what a batch set, in one transaction: (marks cleared, marks it set).

        The batch is the entries from first to last that set the first's mark on the same
        member's orders in the same deal, by the same leader at the same moment (another
        transaction's entries between them, on PostgreSQL, differ in one of these). Each
        mark is cleared only while that entry is still its latest: a mark undone already,
        or set again since, stays as it is, so a second Undo changes nothing.
        """
        cleared = 0
        async with self._transaction() as db:
            head = await db.one(
                "SELECT e.mark, e.by_user, e.at, o.deal_id, o.user_id FROM order_marks e"
                " JOIN orders o ON o.id = e.order_id WHERE e.id = ? AND e.value = 1",
                first_entry,
            )
            if head is None:
                return 0, 0
            entries = await db.all(
                "SELECT e.order_id, (e.id = (SELECT max(later.id) FROM order_marks later"
                "  WHERE later.order_id = e.order_id AND later.mark = e.mark)) AS latest"
                " FROM order_marks e JOIN orders o ON o.id = e.order_id"
                " WHERE e.id BETWEEN ? AND ? AND e.value = 1 AND e.mark = ? AND e.by_user = ?"
                " AND e.at = ? AND o.deal_id = ? AND o.user_id = ? ORDER BY e.id",
                first_entry,
                last_entry,
                head["mark"],
                head["by_user"],
                head["at"],
                head["deal_id"],
                head["user_id"],
            )
            for entry in entries:
                if entry["latest"] and await self._set_mark(
                    db, entry["order_id"], head["mark"], False, by_user, now
                ):
                    cleared += 1
        return cleared, len(entries)

    async def claim_paid(self, order_id: int, user_id: int, now: int) -> OrderRow:
        """The member says they paid a confirmed order; UserError if that cannot be."""
        async with self._transaction() as db:
            changed = await db.change(
                "UPDATE orders SET paid_claimed_at = ? WHERE id = ? AND user_id = ?"
                " AND status = 'confirmed' AND paid_at IS NULL AND paid_claimed_at IS NULL",
                now,
                order_id,
                user_id,
            )
        row = await self.get_order(order_id)
        if row is None or row.member.user_id != user_id:
            raise UserError("tap_stale")
        if not changed and row.order.cancel_reason == "unpaid":
            raise UserError("tap_order_released")  # its payment window ended
        if not changed:
            raise UserError("tap_paid_already" if row.order.paid else "tap_claimed_already")
        return row

    async def settle_claim(self, order_id: int, accept: bool, by_user: int, now: int) -> bool:
        """The leader confirms (marks paid) or rejects a member's "I've paid", in one
        transaction. Confirmed on an order cancelled since, the money is owed back."""
        async with self._transaction() as db:
            if not await db.change(
                "UPDATE orders SET paid_claimed_at = NULL WHERE id = ?"
                " AND paid_claimed_at IS NOT NULL",
                order_id,
            ):
                return False
            if accept and await self._set_mark(db, order_id, "paid", True, by_user, now) is None:
                await self._paid_after_cancel(db, order_id, now)
        return True

    async def record_invoice_payment(
        self, order_id: int, telegram_charge: str, provider_charge: str, now: int
    ) -> bool:
        """An invoice of the order was paid: keep the charge ids and mark the order paid
        (by its member), once in one transaction; False if it was recorded already."""
        async with self._transaction() as db:
            row = await db.one("SELECT user_id FROM orders WHERE id = ?", order_id)
            if row is None or not await db.change(
                "UPDATE orders SET telegram_payment_charge_id = ?, provider_payment_charge_id = ?"
                " WHERE id = ? AND telegram_payment_charge_id IS NULL",
                telegram_charge,
                provider_charge,
                order_id,
            ):
                return False
            await db.change("UPDATE orders SET paid_claimed_at = NULL WHERE id = ?", order_id)
            if await self._set_mark(db, order_id, "paid", True, row["user_id"], now) is None:
                # Paid after its deal was cancelled or its window released it: owed back.
                await self._paid_after_cancel(db, order_id, now)
        return True

    @staticmethod
    async def _paid_after_cancel(db: Tx, order_id: int, now: int) -> None:
        """Money taken for an order already cancelled: recorded paid, and owed back."""
        await db.change(
            "UPDATE orders SET paid_at = ?, refund_due_at = ? WHERE id = ?"
            " AND status = 'cancelled' AND paid_at IS NULL",
            now,
            now,
            order_id,
        )

    # -- payment reminders ------------------------------------------------------------

    async def record_payment_reminder(self, chat_id: int, user_id: int, day: str, now: int) -> bool:
        """Note a payment reminder; False if the member had one from this group today."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "INSERT INTO payment_reminders (chat_id, user_id, day, sent_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    chat_id,
                    user_id,
                    day,
                    now,
                )
            )


def _marks(values: Collection[object]) -> str:
    """As many placeholders as values, for an IN list."""
    return ", ".join("?" * len(values))
