"""Orders: read with what they belong to, marked paid or collected, claimed paid by
their members, and reminded of."""

from __future__ import annotations

from bot.core.errors import UserError
from bot.core.models import OrderRow
from storage.repos.base import _USERNAME_HOLDER, Repository


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

    # -- marks and payment claims -----------------------------------------------------

    async def mark_orders(
        self, order_ids: list[int], mark: str, value: bool, by_user: int, now: int
    ) -> list[int]:
        """Set or undo a paid/collected mark on confirmed orders; return those that changed.

        The order keeps the current state; order_marks keeps who did what when.
        """
        assert mark in ("paid", "collected")
        changed: list[int] = []
        async with self._transaction() as db:
            for order_id in order_ids:
                unmarked = "IS NULL" if value else "IS NOT NULL"  # only a real change counts
                touched = await db.change(
                    f"UPDATE orders SET {mark}_at = ?, {mark}_by = ?"
                    f" WHERE id = ? AND status = 'confirmed' AND {mark}_at {unmarked}",
                    now if value else None,
                    by_user if value else None,
                    order_id,
                )
                if touched:
                    await db.execute(
                        "INSERT INTO order_marks (order_id, mark, value, by_user, at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (order_id, mark, int(value), by_user, now),
                    )
                    changed.append(order_id)
        return changed

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
        if not changed:
            raise UserError("tap_paid_already" if row.order.paid else "tap_claimed_already")
        return row

    async def settle_claim(self, order_id: int, accept: bool, by_user: int, now: int) -> bool:
        """The leader confirms (marks paid) or rejects a member's "I've paid"."""
        async with self._transaction() as db:
            if not await db.change(
                "UPDATE orders SET paid_claimed_at = NULL WHERE id = ?"
                " AND paid_claimed_at IS NOT NULL",
                order_id,
            ):
                return False
        if accept:
            await self.mark_orders([order_id], "paid", True, by_user, now)
        return True

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
