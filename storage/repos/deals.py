"""Deals as posted: their options and pickup points, the card and its reminder, and
what the card shows."""

from __future__ import annotations

from typing import Any

from bot.core.errors import UserError
from bot.core.forms import DealForm
from bot.core.models import (
    Deal,
    DealOption,
    DealStatus,
    DealView,
    Line,
    Member,
    PickupPoint,
    RoundStatus,
)
from storage.engines import PostgresEngine, SqliteEngine, Tx
from storage.repos.base import Repository, _deal, _group, _member, _option, _round
from storage.repos.groups import GroupsRepo


class DealsRepo(Repository):
    """Deals, their options and pickup points, and the views of them."""

    def __init__(self, engine: SqliteEngine | PostgresEngine, groups: GroupsRepo) -> None:
        super().__init__(engine)
        self._groups = groups

    # -- posting and changing a deal --------------------------------------------------

    async def create_deal(
        self,
        *,
        chat_id: int,
        leader: Member,
        form: DealForm,
        photo_file_id: str | None,
        currency: str,
        now: int,
        copied_from: int | None = None,
    ) -> Deal:
        """Store a new deal with its options, pickup points and first round open (a
        per-group copy names the deal it was `copied_from`).

        Raises UserError if the form names a pickup point the group does not have.
        """
        async with self._transaction() as db:
            await self._groups.write_member(db, leader, now)
            pickups = await self._resolve_pickups(db, chat_id, form.pickups)
            deal_id = await db.insert(
                "INSERT INTO deals (chat_id, leader_id, title, description, photo_file_id,"
                " price, currency, min_members, deadline, stock, member_limit, note, mode,"
                " created_at, starts_at, stock_scope, copied_from)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    leader.user_id,
                    form.title,
                    form.description,
                    photo_file_id,
                    form.price,
                    currency,
                    form.min_members,
                    int(form.deadline.timestamp()),
                    form.stock,
                    form.limit,
                    form.note,
                    str(form.mode),
                    now,
                    None if form.start is None else int(form.start.timestamp()),
                    form.stock_scope,
                    copied_from,
                ),
            )
            for position, option in enumerate(form.options, start=1):
                await db.execute(
                    "INSERT INTO deal_options (deal_id, position, name, price, stock)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (deal_id, position, option.name, option.price, option.stock),
                )
            for pickup in pickups:
                await db.execute(
                    "INSERT INTO deal_pickups (deal_id, pickup_id) VALUES (?, ?)",
                    (deal_id, pickup.id),
                )
            await db.execute(
                "INSERT INTO rounds (deal_id, number, opened_at) VALUES (?, 1, ?)", (deal_id, now)
            )
            row = await db.one("SELECT * FROM deals WHERE id = ?", deal_id)
        assert row is not None
        return _deal(row)

    async def _resolve_pickups(
        self, db: Tx, chat_id: int, names: tuple[str, ...]
    ) -> list[PickupPoint]:
        """The group's pickup points a form names (none named: none stored, meaning all)."""
        points = await self._pickup_points(db, chat_id)
        chosen = []
        for name in names:
            point = next((p for p in points if p.name.casefold() == name.casefold()), None)
            if point is None:
                raise UserError(
                    "deal_unknown_pickup", name=name[:40], known=[p.name for p in points]
                )
            chosen.append(point)
        return chosen

    async def replace_options(self, deal_id: int, options: tuple[Any, ...]) -> None:
        """Change a deal's options: only before anybody ordered (prices are promises)."""
        async with self._transaction() as db:
            ordered = await db.one("SELECT 1 FROM orders WHERE deal_id = ? LIMIT 1", deal_id)
            if ordered is not None:
                raise UserError("options_locked")
            await db.execute("DELETE FROM waitlist WHERE deal_id = ?", (deal_id,))
            await db.execute("DELETE FROM deal_options WHERE deal_id = ?", (deal_id,))
            for position, option in enumerate(options, start=1):
                await db.execute(
                    "INSERT INTO deal_options (deal_id, position, name, price, stock)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (deal_id, position, option.name, option.price, option.stock),
                )
            if options:
                await db.execute(
                    "UPDATE deals SET price = ? WHERE id = ?",
                    (min(option.price for option in options), deal_id),
                )

    async def set_card(self, deal_id: int, message_id: int) -> None:
        """Remember which message is the deal's card."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deals SET card_message_id = ? WHERE id = ?", (message_id, deal_id)
            )

    async def mark_reminded(self, deal_id: int, round_number: int) -> bool:
        """Record the reminder for this round; False if it was sent already."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE deals SET reminded_round = ? WHERE id = ?"
                    " AND (reminded_round IS NULL OR reminded_round <> ?)",
                    round_number,
                    deal_id,
                    round_number,
                )
            )

    async def mark_opened(self, deal_id: int, now: int) -> bool:
        """Record that a timed sale opened; False if it is not due, not open, or another
        worker (or an earlier run) announced it already: each opening is announced once."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE deals SET opened_at = ? WHERE id = ? AND status = 'open'"
                    " AND opened_at IS NULL AND starts_at IS NOT NULL AND starts_at <= ?",
                    now,
                    deal_id,
                    now,
                )
            )

    # -- reading deals ----------------------------------------------------------------

    async def get_deal(self, deal_id: int) -> Deal | None:
        """One deal, or None."""
        row = await self._r.one("SELECT * FROM deals WHERE id = ?", deal_id)
        return _deal(row) if row else None

    async def get_option(self, option_id: int) -> DealOption | None:
        """One option of a deal."""
        row = await self._r.one("SELECT * FROM deal_options WHERE id = ?", option_id)
        return _option(row) if row else None

    async def open_deals(self, chat_id: int) -> list[Deal]:
        """The group's open deals, soonest deadline first."""
        rows = await self._r.all(
            "SELECT * FROM deals WHERE chat_id = ? AND status = 'open' ORDER BY deadline, id",
            chat_id,
        )
        return [_deal(row) for row in rows]

    async def all_open_deals(self) -> list[Deal]:
        """Every open deal in every group: what the scheduler must keep armed."""
        rows = await self._r.all("SELECT * FROM deals WHERE status = 'open' ORDER BY deadline, id")
        return [_deal(row) for row in rows]

    async def past_deals(self, chat_id: int, count: int) -> list[Deal]:
        """The group's latest deals, open or ended, newest first."""
        rows = await self._r.all(
            "SELECT * FROM deals WHERE chat_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            chat_id,
            count,
        )
        return [_deal(row) for row in rows]

    async def deal_makings(self, deal_id: int) -> tuple[list[DealOption], list[str]]:
        """What a deal was made of beyond its row: its options (as they stand) and the
        names of the pickup points it named (none: it used all of its group's)."""
        db = self._r
        rows = await db.all(
            "SELECT p.name FROM deal_pickups dp JOIN pickup_points p ON p.id = dp.pickup_id"
            " WHERE dp.deal_id = ? ORDER BY p.id",
            deal_id,
        )
        return await self._options(db, deal_id), [row["name"] for row in rows]

    async def deal_view(self, deal_id: int) -> DealView | None:
        """Everything the deal card shows."""
        db = self._r
        row = await db.one("SELECT * FROM deals WHERE id = ?", deal_id)
        if row is None:
            return None
        deal = _deal(row)
        group_row = await db.one("SELECT * FROM groups WHERE chat_id = ?", deal.chat_id)
        assert group_row is not None
        round_rows = list(
            await db.all("SELECT * FROM rounds WHERE deal_id = ? ORDER BY number", deal_id)
        )
        all_rounds = [_round(r) for r in round_rows]
        open_round = next((r for r in all_rounds if r.status is RoundStatus.OPEN), None)
        if deal.status is DealStatus.CLOSED:
            lines = await self._roster(db, deal_id)
        else:
            lines = await self._lines(db, open_round.id) if open_round else []
        return DealView(
            deal=deal,
            group=_group(group_row),
            open_round=open_round,
            lines=lines,
            rounds_formed=sum(r.status is RoundStatus.FORMED for r in all_rounds),
            last_round=all_rounds[-1] if all_rounds else None,
            options=await self._options(db, deal_id),
            pickups=await self._deal_pickups(db, deal),
        )

    @staticmethod
    async def _roster(db: Tx, deal_id: int) -> list[Line]:
        """The final list of a closed deal: the confirmed orders of its formed rounds,
        round by round, first joiner first."""
        rows = await db.all(
            "SELECT m.*, o.id AS order_id, o.quantity, o.unit_price, r.number AS round_number,"
            " op.name AS option_name"
            " FROM orders o JOIN rounds r ON r.id = o.round_id"
            " JOIN members m ON m.user_id = o.user_id"
            " LEFT JOIN deal_options op ON op.id = o.option_id"
            " WHERE o.deal_id = ? AND o.status = 'confirmed' AND r.status = 'formed'"
            " ORDER BY r.number, o.created_at, o.id",
            deal_id,
        )
        return [
            Line(
                member=_member(row),
                quantity=int(row["quantity"]),
                option=row["option_name"],
                order_id=int(row["order_id"]),
                amount=int(row["quantity"]) * int(row["unit_price"]),
                round_number=int(row["round_number"]),
            )
            for row in rows
        ]

    async def set_pinned(self, deal_id: int) -> None:
        """Remember that the bot pinned the deal's card."""
        async with self._transaction() as db:
            await db.execute("UPDATE deals SET pinned = 1 WHERE id = ?", (deal_id,))

    async def take_pin(self, deal_id: int) -> bool:
        """Forget that the deal's card is pinned; True for the one caller who is to unpin
        it (False if the bot never pinned it, or it was unpinned already)."""
        row = await self._r.one("SELECT pinned FROM deals WHERE id = ?", deal_id)
        if row is None or not row["pinned"]:
            return False  # most cards never were: no write, no wait for the write lock
        async with self._transaction() as db:
            return bool(
                await db.change("UPDATE deals SET pinned = 0 WHERE id = ? AND pinned = 1", deal_id)
            )

    async def deal_pickups(self, deal: Deal) -> list[PickupPoint]:
        """The pickup points a member of this deal may choose from."""
        return await self._deal_pickups(self._r, deal)
