"""What every repository shares: the one engine, its reader and transactions, the
lookups and unit counts that several areas use inside one transaction, and row mapping."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import fields
from typing import Any, TypeVar

from bot.core.errors import UserError
from bot.core.models import (
    Deal,
    DealOption,
    DealStatus,
    Group,
    LedgerEntry,
    Line,
    Member,
    Order,
    OrderRow,
    OrderStatus,
    PickupPoint,
    Round,
    RoundStatus,
    Via,
)
from storage.engines import PostgresEngine, Row, SqliteEngine, Tx

T = TypeVar("T")

# The pickup points `p` of deal ? in group ?: those it named (deal ? again), else every
# active point of its group.
_DEAL_PICKUPS = (
    "(p.id IN (SELECT pickup_id FROM deal_pickups WHERE deal_id = ?)"
    " OR (p.chat_id = ? AND p.active = 1"
    "     AND NOT EXISTS (SELECT 1 FROM deal_pickups WHERE deal_id = ?)))"
)


# Who holds a username now: Telegram lets a member give one up and another take it, and
# the bot learns of it only when it sees them, so the one seen with it last holds it (on
# the same second, the newer account: the higher user id).
_USERNAME_HOLDER = (
    "SELECT user_id FROM members WHERE lower(username) = lower(?)"
    " ORDER BY updated_at DESC, user_id DESC LIMIT 1"
)


class Repository:
    """One area of the store, on the engine that every area shares.

    Each method that changes anything is one transaction; the rules it applies come
    from bot.core (pure functions), the SQL is written once for both engines. A write
    that reaches into another area stays one transaction: the repository that owns it
    calls the other's in-transaction step, which takes the open `db: Tx`.
    """

    def __init__(self, engine: SqliteEngine | PostgresEngine) -> None:
        self.engine = engine

    @property
    def _r(self) -> Tx:
        return self.engine.reader

    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self.engine.transaction()

    # -- shared lookups inside a transaction ------------------------------------------

    async def _find_deal(self, db: Tx, deal_id: int) -> Deal | None:
        # Locked for the rest of the transaction: on PostgreSQL, writers of one deal take
        # turns (SQLite serialises every write anyway).
        row = await db.one("SELECT * FROM deals WHERE id = ? FOR UPDATE", deal_id)
        return _deal(row) if row else None

    async def _reload_deal(self, db: Tx, deal_id: int) -> Deal:
        deal = await self._find_deal(db, deal_id)
        assert deal is not None
        return deal

    async def _open_round(self, db: Tx, deal_id: int) -> Round | None:
        row = await db.one("SELECT * FROM rounds WHERE deal_id = ? AND status = 'open'", deal_id)
        return _round(row) if row else None

    async def _deal_and_round(self, db: Tx, deal_id: int) -> tuple[Deal, Round | None]:
        deal = await self._find_deal(db, deal_id)
        if deal is None:
            raise UserError("tap_stale")
        return deal, await self._open_round(db, deal_id)

    async def _count_members(self, db: Tx, round_id: int) -> int:
        row = await db.one(
            "SELECT COUNT(DISTINCT user_id) FROM orders"
            " WHERE round_id = ? AND status <> 'cancelled'",
            round_id,
        )
        return int(row[0]) if row else 0

    @staticmethod
    async def _mark_deal(db: Tx, deal_id: int, status: DealStatus, now: int) -> None:
        await db.execute(
            "UPDATE deals SET status = ?, closed_at = ? WHERE id = ?", (str(status), now, deal_id)
        )

    async def _options(self, db: Tx, deal_id: int) -> list[DealOption]:
        rows = await db.all(
            "SELECT * FROM deal_options WHERE deal_id = ? ORDER BY position", deal_id
        )
        return [_option(row) for row in rows]

    async def _pickup_points(self, db: Tx, chat_id: int) -> list[PickupPoint]:
        rows = await db.all(
            "SELECT * FROM pickup_points WHERE chat_id = ? AND active = 1 ORDER BY id",
            chat_id,
        )
        return [PickupPoint(int(r["id"]), int(r["chat_id"]), r["name"]) for r in rows]

    async def _deal_pickups(self, db: Tx, deal: Deal) -> list[PickupPoint]:
        """The points a deal uses: those it named, else every active point of its group."""
        rows = await db.all(
            f"SELECT p.* FROM pickup_points p WHERE {_DEAL_PICKUPS} ORDER BY p.id",
            deal.id,
            deal.chat_id,
            deal.id,
        )
        return [PickupPoint(int(r["id"]), int(r["chat_id"]), r["name"]) for r in rows]

    @classmethod
    async def _lines(cls, db: Tx, round_id: int, status: str | None = None) -> list[Line]:
        """Each order in a round, first joiner first; live orders unless told."""
        condition = "o.status = ?" if status else "o.status <> ?"
        rows = await db.all(
            "SELECT m.*, o.id AS order_id, o.quantity, o.unit_price, o.code,"
            " op.name AS option_name, p.name AS pickup_name"
            " FROM orders o JOIN members m ON m.user_id = o.user_id"
            " LEFT JOIN deal_options op ON op.id = o.option_id"
            " LEFT JOIN pickup_points p ON p.id = o.pickup_id"
            f" WHERE o.round_id = ? AND {condition} ORDER BY o.created_at, o.id",
            round_id,
            status or "cancelled",
        )
        return [
            Line(
                member=_member(row),
                quantity=int(row["quantity"]),
                option=row["option_name"],
                code=row["code"],
                order_id=int(row["order_id"]),
                amount=int(row["quantity"]) * int(row["unit_price"]),
                pickup=row["pickup_name"],
            )
            for row in rows
        ]

    # -- units taken and given back (joins, leaves, the waitlist) ---------------------

    async def _take_unit(self, db: Tx, deal_id: int, option: DealOption | None) -> None:
        """Take one unit of the deal and of the option, both or neither, or raise sold out.

        Conditional UPDATEs are the guard that holds on any engine and any isolation
        level: a unit is taken only if one is still free. The caller may carry on in the
        same transaction after sold out (the waitlist tries the next in line), so a deal
        unit taken for a full option is given back here, not left to a rollback.
        """
        if not await db.change(
            "UPDATE deals SET taken = taken + 1 WHERE id = ? AND status = 'open'"
            " AND (stock IS NULL OR taken < stock)",
            deal_id,
        ):
            raise UserError("tap_sold_out")
        if option is not None and not await db.change(
            "UPDATE deal_options SET taken = taken + 1 WHERE id = ?"
            " AND (stock IS NULL OR taken < stock)",
            option.id,
        ):
            await db.execute("UPDATE deals SET taken = taken - 1 WHERE id = ?", (deal_id,))
            raise UserError("tap_sold_out")

    async def _release(self, db: Tx, deal_id: int, orders: Iterable[Any]) -> None:
        """Give the units of cancelled orders back to the deal and their options."""
        for order in orders:
            await db.execute(
                "UPDATE deals SET taken = taken - ? WHERE id = ?", (order["quantity"], deal_id)
            )
            if order["option_id"] is not None:
                await db.execute(
                    "UPDATE deal_options SET taken = taken - ? WHERE id = ?",
                    (order["quantity"], order["option_id"]),
                )

    # -- orders with what they belong to ----------------------------------------------

    _ORDER_ROWS = (
        "SELECT o.id AS o_id, o.deal_id AS o_deal_id, o.round_id, o.user_id AS o_user_id,"
        " o.quantity, o.unit_price, o.status AS o_status, o.created_at AS o_created_at,"
        " o.paid_at, o.collected_at, o.option_id, o.pickup_id, o.code, o.paid_claimed_at,"
        " o.telegram_payment_charge_id, o.provider_payment_charge_id, o.cancel_reason,"
        " o.refund_due_at, o.refunded_at, o.via_chat_id,"
        " vg.title AS via_title, dg.helper_id AS via_helper_id, dg.commission AS via_commission,"
        " (SELECT lc.amount FROM ledger lc WHERE lc.order_id = o.id"
        "  AND lc.kind = 'commission') AS credited,"
        " r.number AS round_number, g.title AS group_title, op.name AS option_name,"
        " p.name AS pickup_name,"
        " m.user_id, m.first_name, m.last_name, m.username, m.language_code, m.forgotten_number,"
        " m.lang,"
        " d.*"
        " FROM orders o JOIN rounds r ON r.id = o.round_id JOIN deals d ON d.id = o.deal_id"
        " JOIN members m ON m.user_id = o.user_id JOIN groups g ON g.chat_id = d.chat_id"
        " LEFT JOIN deal_options op ON op.id = o.option_id"
        " LEFT JOIN pickup_points p ON p.id = o.pickup_id"
        " LEFT JOIN groups vg ON vg.chat_id = o.via_chat_id"
        " LEFT JOIN deal_groups dg ON dg.deal_id = o.deal_id AND dg.chat_id = o.via_chat_id"
    )

    async def _order_rows(self, where: str, *args: Any) -> list[OrderRow]:
        rows = await self._r.all(f"{self._ORDER_ROWS} WHERE {where}", *args)
        return [_order_row(row) for row in rows]


# -- row mapping ----------------------------------------------------------------------


def _exhausted(options: list[DealOption]) -> bool:
    """The deal has options and not one unit of any is left."""
    return bool(options) and all(o.stock_left is not None and o.stock_left <= 0 for o in options)


def _option(row: Row) -> DealOption:
    return _build(DealOption, row)


# The field names of each model, read once: dataclasses.fields() is slow on a hot path.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _build(cls: type[T], row: Row, **values: Any) -> T:
    """A model from a row: every field read by its column name, unless given."""
    keys = set(row.keys())  # asyncpg's keys() is a one-pass iterator
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in fields(cls))  # type: ignore[arg-type]
    for name in names:
        if name not in values and name in keys:
            values[name] = row[name]
    return cls(**values)


def _group(row: Row) -> Group:
    return _build(Group, row, pin=bool(row["pin"]), pin_warned=bool(row["pin_warned"]))


def _entry(row: Row) -> LedgerEntry:
    return _build(LedgerEntry, row)


def _member(row: Row) -> Member:
    return _build(Member, row)


def _deal(row: Row) -> Deal:
    return _build(Deal, row, status=DealStatus(row["status"]))


def _round(row: Row) -> Round:
    return _build(Round, row, status=RoundStatus(row["status"]))


def _order_row(row: Row) -> OrderRow:
    order = Order(
        id=row["o_id"],
        deal_id=row["o_deal_id"],
        round_id=row["round_id"],
        user_id=row["o_user_id"],
        quantity=row["quantity"],
        unit_price=row["unit_price"],
        status=OrderStatus(row["o_status"]),
        created_at=row["o_created_at"],
        paid_at=row["paid_at"],
        collected_at=row["collected_at"],
        option_id=row["option_id"],
        pickup_id=row["pickup_id"],
        code=row["code"],
        paid_claimed_at=row["paid_claimed_at"],
        telegram_payment_charge_id=row["telegram_payment_charge_id"],
        provider_payment_charge_id=row["provider_payment_charge_id"],
        refund_due_at=row["refund_due_at"],
        refunded_at=row["refunded_at"],
        cancel_reason=row["cancel_reason"],
    )
    return OrderRow(
        order=order,
        member=_member(row),
        deal=_deal(row),
        round_number=row["round_number"],
        group_title=row["group_title"],
        option=row["option_name"],
        pickup=row["pickup_name"],
        via=Via(
            row["via_chat_id"],
            row["via_title"] or "",
            row["via_helper_id"],
            row["via_commission"] or 0,
        )
        if row["via_chat_id"] is not None
        else None,
        credited=row["credited"] or 0,
    )
