"""The SQLite store: every read and write of deals, rounds and orders, in domain words."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from bot.core import referrals, rounds
from bot.core.errors import UserError
from bot.core.forms import DealForm
from bot.core.models import (
    Balance,
    CancelledDeal,
    ClosedRound,
    Deal,
    DealOption,
    DealStatus,
    DealView,
    Group,
    JoinOutcome,
    LeaveOutcome,
    LedgerEntry,
    Line,
    Member,
    Offer,
    Order,
    OrderRow,
    OrderStatus,
    PickupPoint,
    Round,
    RoundStatus,
    Standing,
)
from storage.engines import PostgresEngine, Row, SqliteEngine, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

# Collection codes: no 0/O, 1/I/L, so that they read out loud without doubt.
# Every column of groups but its key: a migrated group's settings are copied whole.
GROUP_COLUMNS = (
    "title",
    "lang",
    "tz",
    "currency",
    "created_at",
    "summary_time",
    "summary_sent_on",
    "reward_kind",
    "reward_value",
    "levels",
    "privacy",
)
# Every table but groups that names a group by chat_id, and what else keys its rows
# within a group: a group that becomes a supergroup takes them all along.
GROUP_KEYS = {
    "group_leaders": ("user_id",),
    "pickup_points": ("name",),
    "payment_reminders": ("user_id", "day"),
    "referrals": ("referee_id",),
    "group_invites": ("invitee_id",),
}
GROUP_TABLES = ("deals", "ledger", *GROUP_KEYS)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
OFFER_SECONDS = 15 * 60  # how long a freed unit is held for the first in line
MEMBERS_SEEN = 10_000  # members a process remembers as stored (see Store._members_seen)
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


class Store:
    """Every read and write of the product, in domain words, on one engine.

    Each method that changes anything is one transaction; the rules it applies come
    from bot/ (pure functions), the SQL is written once for both engines.
    """

    def __init__(self, engine: SqliteEngine | PostgresEngine) -> None:
        self.engine = engine
        # Members as this process last wrote or read them: a tap by someone already
        # stored as they are needs no read of them, and no write (a flash sale is mostly
        # such taps). Filled only after a commit, so whatever it holds is in the store.
        self._members_seen: dict[int, Member] = {}

    @property
    def path(self) -> Path:
        """The SQLite file (for the operator's backup command)."""
        assert isinstance(self.engine, SqliteEngine), "only SQLite keeps a file"
        return self.engine.path

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        await self.engine.open()

    async def close(self) -> None:
        """Disconnect; safe to call twice."""
        await self.engine.close()

    async def schema_version(self) -> int:
        """The number of the last migration applied."""
        return await self.engine.schema_version()

    async def migrate(self) -> int:
        """Apply pending migrations; the version reached."""
        return await self.engine.migrate()

    @property
    def _r(self) -> Tx:
        return self.engine.reader

    def _transaction(self) -> AbstractAsyncContextManager[Tx]:
        return self.engine.transaction()

    # -- groups and members -----------------------------------------------------------

    async def ensure_group(
        self, chat_id: int, title: str, *, tz: str, currency: str, lang: str, now: int
    ) -> Group:
        """The group's settings, creating the group with the defaults on first sight."""
        # Read first: a group command writes only for a new group or a new title, so it
        # never waits for the write lock otherwise.
        known = await self.get_group(chat_id)
        if known is not None and known.title == title:
            return known
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO groups (chat_id, title, tz, currency, lang, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title",
                (chat_id, title, tz, currency, lang, now),
            )
            row = await db.one("SELECT * FROM groups WHERE chat_id = ?", chat_id)
        assert row is not None
        return _group(row)

    async def get_group(self, chat_id: int) -> Group | None:
        """A group's settings, or None for a group the bot has never served."""
        row = await self._r.one("SELECT * FROM groups WHERE chat_id = ?", chat_id)
        return _group(row) if row else None

    @staticmethod
    async def _save_member(db: Tx, member: Member, now: int) -> None:
        await db.execute(
            "INSERT INTO members (user_id, first_name, last_name, username, language_code,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, username = excluded.username,"
            " language_code = excluded.language_code, updated_at = excluded.updated_at,"
            " forgotten_number = NULL, forgotten_at = NULL",  # back by their own doing
            (
                member.user_id,
                member.first_name,
                member.last_name,
                member.username,
                member.language_code,
                now,
            ),
        )

    def _saw(self, member: Member) -> None:
        """Note a member as the store now holds them (after the commit that wrote them)."""
        self._members_seen.pop(member.user_id, None)
        self._members_seen[member.user_id] = member
        if len(self._members_seen) > MEMBERS_SEEN:
            del self._members_seen[next(iter(self._members_seen))]  # the one seen longest ago

    async def get_member(self, user_id: int) -> Member | None:
        """A member as last seen, or None."""
        row = await self._r.one("SELECT * FROM members WHERE user_id = ?", user_id)
        return _member(row) if row else None

    async def member_by_username(self, username: str) -> Member | None:
        """The member who holds @username (without the @) now, case-insensitively."""
        row = await self._r.one(
            f"SELECT * FROM members WHERE user_id = ({_USERNAME_HOLDER})", username
        )
        return _member(row) if row else None

    async def save_member(self, member: Member, now: int) -> None:
        """Remember a user's current name and language."""
        async with self._transaction() as db:
            await self._save_member(db, member, now)

    async def forget_member(self, user_id: int, now: int) -> bool:
        """Blank a member's personal fields (/forgetme), keeping the row their orders and
        ledger entries point to; False if nothing was stored or it was already forgotten."""
        async with self._transaction() as db:
            forgotten = await db.change(
                "UPDATE members SET first_name = '', last_name = '', username = NULL,"
                " language_code = NULL, updated_at = ?, forgotten_at = ?,"
                " forgotten_number = (SELECT COALESCE(MAX(forgotten_number), 0) + 1"
                "  FROM members) WHERE user_id = ? AND forgotten_number IS NULL",
                now,
                now,
                user_id,
            )
        self._members_seen.pop(user_id, None)
        return bool(forgotten)

    # -- deals ------------------------------------------------------------------------

    async def create_deal(
        self,
        *,
        chat_id: int,
        leader: Member,
        form: DealForm,
        photo_file_id: str | None,
        currency: str,
        now: int,
    ) -> Deal:
        """Store a new deal with its options, pickup points and first round open.

        Raises UserError if the form names a pickup point the group does not have.
        """
        async with self._transaction() as db:
            await self._save_member(db, leader, now)
            pickups = await self._resolve_pickups(db, chat_id, form.pickups)
            deal_id = await db.insert(
                "INSERT INTO deals (chat_id, leader_id, title, description, photo_file_id,"
                " price, currency, min_members, deadline, stock, member_limit, note, mode,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    async def deal_pickups(self, deal: Deal) -> list[PickupPoint]:
        """The pickup points a member of this deal may choose from."""
        return await self._deal_pickups(self._r, deal)

    async def _options(self, db: Tx, deal_id: int) -> list[DealOption]:
        rows = await db.all(
            "SELECT * FROM deal_options WHERE deal_id = ? ORDER BY position", deal_id
        )
        return [_option(row) for row in rows]

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

    async def get_option(self, option_id: int) -> DealOption | None:
        """One option of a deal."""
        row = await self._r.one("SELECT * FROM deal_options WHERE id = ?", option_id)
        return _option(row) if row else None

    async def set_card(self, deal_id: int, message_id: int) -> None:
        """Remember which message is the deal's card."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deals SET card_message_id = ? WHERE id = ?", (message_id, deal_id)
            )

    async def get_deal(self, deal_id: int) -> Deal | None:
        """One deal, or None."""
        row = await self._r.one("SELECT * FROM deals WHERE id = ?", deal_id)
        return _deal(row) if row else None

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

    # -- joining and leaving ----------------------------------------------------------

    async def join_round(
        self,
        deal_id: int,
        member: Member,
        now: int,
        tap_id: str | None = None,
        option_id: int | None = None,
        offer_id: int | None = None,
    ) -> JoinOutcome:
        """Add one unit to the member's order in the open round, or raise why not.

        Limit and stock are checked and the order written in one transaction; the round
        forms (or the tipping point is marked) in that same transaction, so no tap can
        slip between the count and the close. A tap delivered twice counts once. With
        `offer_id` the unit is the one a waitlist offer holds for this member.
        """
        # Each statement in the transaction holds the write lock a little longer (on
        # SQLite a trip to the connection's thread), so what can be known before it, or
        # asked in one statement, is: the member is written only when new or changed.
        known = self._members_seen.get(member.user_id) or await self.get_member(member.user_id)
        async with self._transaction() as db:
            await self._claim_tap(db, tap_id, now)
            if known != member:
                await self._save_member(db, member, now)
            deal = await self._find_deal(db, deal_id)
            if deal is None:
                raise UserError("tap_stale")
            # A statement of its own, after the deal's lock: on PostgreSQL a statement that
            # waited for a row lock would read the round and orders as they were before.
            facts = await db.one(
                "SELECT r.*, (SELECT COALESCE(SUM(quantity), 0) FROM orders"
                "  WHERE deal_id = r.deal_id AND user_id = ? AND status <> 'cancelled') AS held,"
                " (SELECT COUNT(DISTINCT user_id) FROM orders"
                "  WHERE round_id = r.id AND status <> 'cancelled') AS members,"
                " EXISTS (SELECT 1 FROM orders WHERE round_id = r.id AND user_id = ?"
                "  AND status <> 'cancelled') AS in_round,"
                " EXISTS (SELECT 1 FROM deal_options WHERE deal_id = r.deal_id) AS has_options,"
                f" EXISTS (SELECT 1 FROM pickup_points p WHERE {_DEAL_PICKUPS}) AS has_pickups"
                " FROM rounds r WHERE r.deal_id = ? AND r.status = 'open'",
                member.user_id,
                member.user_id,
                deal.id,
                deal.chat_id,
                deal.id,
                deal_id,
            )
            open_round = _round(facts) if facts else None
            options = await self._options(db, deal_id) if facts and facts["has_options"] else []
            option = next((o for o in options if o.id == option_id), None)
            if (options and option is None) or (option_id is not None and option is None):
                raise UserError("tap_stale")
            held = int(facts["held"]) if facts else 0
            holding = offer_id is not None and await self._use_offer(
                db, offer_id, deal_id, option_id, member.user_id, now
            )
            rounds.check_join(
                status=deal.status if open_round else DealStatus.CLOSED,
                now=now,
                deadline=deal.deadline,
                held=held,
                limit=deal.member_limit,
                stock=None if holding else deal.stock,
                taken=deal.taken,
            )
            assert open_round is not None and facts is not None
            if not holding:
                await self._take_unit(db, deal_id, option)
            order = await self._add_unit(
                db, deal, open_round.id, member.user_id, option, now, new=held == 0
            )
            # Only an order with no pickup point yet needs the points (repeat taps do not).
            pickups = []
            if order["pickup_id"] is None and facts["has_pickups"]:
                pickups = await self._deal_pickups(db, deal)
                await self._default_pickup(db, deal_id, member.user_id, order["id"], pickups)
                order = await db.one(
                    "SELECT id, quantity, pickup_id FROM orders WHERE id = ?", order["id"]
                )
                assert order is not None
            # Counted before this unit, in the same transaction: one more if the member
            # had no order in this round yet.
            members = int(facts["members"]) + (0 if facts["in_round"] else 1)
            if not holding:  # the unit taken above, without reading the deal again
                deal = replace(deal, taken=deal.taken + 1)
            if options:  # their counters moved with this unit
                options = await self._options(db, deal_id)
            facts = rounds.RoundFacts(
                mode=deal.mode,
                min_members=deal.min_members,
                members=members,
                stock=deal.stock,
                taken=deal.taken,
                tipped=open_round.tipped_at is not None,
                options_exhausted=_exhausted(options),
            )
            verdict = rounds.after_join(facts)
            closed = None
            if verdict is rounds.Verdict.TIP:
                await db.execute(
                    "UPDATE rounds SET tipped_at = ? WHERE id = ?", (now, open_round.id)
                )
            elif verdict in (rounds.Verdict.FORM, rounds.Verdict.SELL_OUT):
                outcome = rounds.at_close(members, deal.min_members)
                closed = await self._close_round(db, deal, open_round, outcome, now)
                deal = closed.deal if closed else deal
        self._saw(member)
        return JoinOutcome(
            deal=deal,
            round_number=open_round.number,
            quantity=int(order["quantity"]),
            members=members,
            tipped=verdict is rounds.Verdict.TIP,
            closed=closed,
            option=option.name if option else None,
            order_id=int(order["id"]),
            needs_pickup=order["pickup_id"] is None and len(pickups) > 1,
            offers=closed.offers if closed else [],
        )

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

    async def _add_unit(
        self,
        db: Tx,
        deal: Deal,
        round_id: int,
        user_id: int,
        option: DealOption | None,
        now: int,
        *,
        new: bool,
    ) -> Row:
        """One more unit on the member's pending order, or a new order of one unit
        (`new`: the member holds nothing in this deal yet); the order's id, quantity
        and pickup point."""
        option_id = option.id if option else None
        if not new:
            rows = await db.all(
                "UPDATE orders SET quantity = quantity + 1, updated_at = ?"
                " WHERE round_id = ? AND user_id = ? AND COALESCE(option_id, 0) = ?"
                " AND status = 'pending' RETURNING id, quantity, pickup_id",
                now,
                round_id,
                user_id,
                option_id or 0,
            )
            if rows:
                return rows[0]
        # The order is credited to whoever brought the member to the group, and picks
        # up where the member's other orders in this deal are collected.
        rows = await db.all(
            "INSERT INTO orders (deal_id, round_id, user_id, quantity, unit_price, option_id,"
            " created_at, updated_at, referrer_id, pickup_id) VALUES (?, ?, ?, 1, ?, ?, ?, ?,"
            " (SELECT referrer_id FROM referrals WHERE chat_id = ? AND referee_id = ?),"
            " (SELECT pickup_id FROM orders WHERE deal_id = ? AND user_id = ?"
            "  AND pickup_id IS NOT NULL ORDER BY id DESC LIMIT 1))"
            " RETURNING id, quantity, pickup_id",
            deal.id,
            round_id,
            user_id,
            option.price if option else deal.price,
            option_id,
            now,
            now,
            deal.chat_id,
            user_id,
            deal.id,
            user_id,
        )
        return rows[0]

    async def _default_pickup(
        self,
        db: Tx,
        deal_id: int,
        user_id: int,
        order_id: int,
        pickups: list[PickupPoint],
    ) -> None:
        """With one pickup point there is nothing to choose: the order is collected there."""
        if len(pickups) == 1:
            await db.execute(
                "UPDATE orders SET pickup_id = ? WHERE id = ?", (pickups[0].id, order_id)
            )

    async def choose_pickup(self, deal_id: int, user_id: int, pickup_id: int) -> bool:
        """The member collects every live order of the deal at this point."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None:
                return False
            if pickup_id not in {p.id for p in await self._deal_pickups(db, deal)}:
                return False
            return bool(
                await db.change(
                    "UPDATE orders SET pickup_id = ? WHERE deal_id = ? AND user_id = ?"
                    " AND status <> 'cancelled'",
                    pickup_id,
                    deal_id,
                    user_id,
                )
            )

    async def leave_round(
        self, deal_id: int, user_id: int, now: int, tap_id: str | None = None
    ) -> LeaveOutcome:
        """Withdraw the member's orders from the open round and release their stock."""
        async with self._transaction() as db:
            await self._claim_tap(db, tap_id, now)
            deal, open_round = await self._deal_and_round(db, deal_id)
            if deal.status is not DealStatus.OPEN or open_round is None or now >= deal.deadline:
                raise UserError("tap_closed")
            orders = list(
                await db.all(
                    "SELECT id, quantity, option_id FROM orders WHERE round_id = ?"
                    " AND user_id = ? AND status = 'pending'",
                    open_round.id,
                    user_id,
                )
            )
            if not orders:
                raise UserError("tap_not_in")
            await db.execute(
                "UPDATE orders SET status = 'cancelled', updated_at = ? WHERE round_id = ?"
                " AND user_id = ? AND status = 'pending'",
                (now, open_round.id, user_id),
            )
            await self._release(db, deal_id, orders)
            offers = await self._offer_freed(db, deal_id, now)
            members = await self._count_members(db, open_round.id)
            deal = await self._reload_deal(db, deal_id)
        return LeaveOutcome(
            deal=deal,
            round_number=open_round.number,
            released=sum(int(order["quantity"]) for order in orders),
            members=members,
            offers=offers,
        )

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

    # -- the waitlist -----------------------------------------------------------------

    async def wait_for_unit(
        self, deal_id: int, option_id: int | None, user_id: int, now: int
    ) -> bool:
        """Put the member in line for a unit; False if they already are."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None or deal.status is not DealStatus.OPEN:
                raise UserError("tap_closed")
            # A deal with options frees units per option: a deal-wide place in line
            # would be offered a unit that no Join can take.
            options = {option.id for option in await self._options(db, deal_id)}
            if option_id is None and options:
                raise UserError("tap_wait_option")
            if option_id is not None and option_id not in options:
                raise UserError("tap_stale")
            return bool(
                await db.change(
                    "INSERT INTO waitlist (deal_id, option_id, user_id, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    deal_id,
                    option_id,
                    user_id,
                    now,
                )
            )

    async def _offer_freed(self, db: Tx, deal_id: int, now: int) -> list[Offer]:
        """Offer free units to the first in line: each offer holds one unit for a while."""
        deal = await self._find_deal(db, deal_id)
        if deal is None or deal.status is not DealStatus.OPEN:
            return []
        offers: list[Offer] = []
        waiting = await db.all(
            "SELECT w.id, w.user_id, w.option_id, op.name FROM waitlist w"
            " LEFT JOIN deal_options op ON op.id = w.option_id"
            " WHERE w.deal_id = ? AND w.status = 'waiting' ORDER BY w.id",
            deal_id,
        )
        expires = now + OFFER_SECONDS
        options = await self._options(db, deal_id)
        for entry in waiting:
            option = next((o for o in options if o.id == entry["option_id"]), None)
            if options and option is None:
                continue  # a deal-wide place in line (from before options were checked)
            try:
                await self._take_unit(db, deal_id, option)  # the offer holds the unit
            except UserError:
                continue  # nothing free for this one (yet)
            await db.execute(
                "UPDATE waitlist SET status = 'offered', offered_at = ?, expires_at = ?"
                " WHERE id = ?",
                (now, expires, entry["id"]),
            )
            offers.append(
                Offer(int(entry["id"]), deal, int(entry["user_id"]), entry["name"], expires)
            )
        return offers

    async def _use_offer(
        self,
        db: Tx,
        offer_id: int,
        deal_id: int,
        option_id: int | None,
        user_id: int,
        now: int,
    ) -> bool:
        """Turn the member's live offer into the unit it holds; UserError if it lapsed."""
        if not await db.change(
            "UPDATE waitlist SET status = 'taken' WHERE id = ? AND deal_id = ? AND user_id = ?"
            " AND COALESCE(option_id, 0) = ? AND status = 'offered' AND expires_at > ?",
            offer_id,
            deal_id,
            user_id,
            option_id or 0,
            now,
        ):
            raise UserError("tap_offer_gone")
        return True

    async def get_offer(self, offer_id: int) -> tuple[int, int | None, int] | None:
        """(deal id, option id, user id) of a waitlist entry."""
        row = await self._r.one(
            "SELECT deal_id, option_id, user_id FROM waitlist WHERE id = ?", offer_id
        )
        if row is None:
            return None
        return int(row["deal_id"]), row["option_id"], int(row["user_id"])

    async def expire_offers(self, now: int) -> list[Offer]:
        """Lapse offers past their time, free their units, and offer them to the next."""
        lapsed = await self._r.all(
            "SELECT DISTINCT deal_id FROM waitlist WHERE status = 'offered' AND expires_at <= ?",
            now,
        )
        offers: list[Offer] = []
        for lapsed_deal in lapsed:
            deal_id = int(lapsed_deal["deal_id"])
            async with self._transaction() as db:
                await self._find_deal(db, deal_id)  # the deal first, as every writer does
                entries = await db.all(
                    "SELECT id, option_id FROM waitlist WHERE deal_id = ?"
                    " AND status = 'offered' AND expires_at <= ?",
                    deal_id,
                    now,
                )
                for entry in entries:
                    if await db.change(
                        "UPDATE waitlist SET status = 'expired'"
                        " WHERE id = ? AND status = 'offered'",
                        entry["id"],
                    ):
                        await self._release(db, deal_id, [{"quantity": 1, **dict(entry)}])
                offers += await self._offer_freed(db, deal_id, now)
        return offers

    async def restock(
        self, deal_id: int, units: int, option_id: int | None, now: int
    ) -> list[Offer]:
        """The leader adds stock to the deal (or one option); the waitlist is offered it."""
        async with self._transaction() as db:
            if option_id is None:
                await db.execute(
                    "UPDATE deals SET stock = stock + ? WHERE id = ? AND stock IS NOT NULL",
                    (units, deal_id),
                )
            else:
                # The deal grows with its option, and only with an option of its own.
                await db.execute(
                    "UPDATE deal_options SET stock = stock + ? WHERE id = ? AND deal_id = ?"
                    " AND stock IS NOT NULL",
                    (units, option_id, deal_id),
                )
                await db.execute(
                    "UPDATE deals SET stock = stock + ? WHERE id = ? AND stock IS NOT NULL"
                    " AND EXISTS (SELECT 1 FROM deal_options WHERE id = ? AND deal_id = ?)",
                    (units, deal_id, option_id, deal_id),
                )
            return await self._offer_freed(db, deal_id, now)

    async def _claim_tap(self, db: Tx, tap_id: str | None, now: int) -> None:
        """Record the tap inside its own transaction; a second delivery raises UserError."""
        if tap_id is None:
            return
        if not await db.change(
            "INSERT INTO taps (query_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            tap_id,
            now,
        ):
            raise UserError("tap_duplicate")

    async def first_delivery(self, update_id: int, now: int, sender: Member | None) -> bool:
        """Claim an update for handling; False if it was delivered (and claimed) before.

        The sender is remembered on the way (when new or changed), so leaders can name
        members by @username.
        """
        known = await self.get_member(sender.user_id) if sender is not None else None
        async with self._transaction() as db:
            first = await db.change(
                "INSERT INTO updates_seen (update_id, seen_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                update_id,
                now,
            )
            if first and sender is not None and sender != known:
                await self._save_member(db, sender, now)
            return bool(first)

    async def forget_deliveries(self, before: int) -> None:
        """Drop delivery records older than Telegram ever redelivers."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM taps WHERE seen_at < ?", (before,))
            await db.execute("DELETE FROM updates_seen WHERE seen_at < ?", (before,))

    async def move_group(self, old_chat_id: int, new_chat_id: int) -> list[Deal]:
        """A group became a supergroup: its settings, deals and ledger follow the new id.

        Returns the open deals, whose cards must be posted again in the new chat.
        """
        async with self._transaction() as db:
            exists = await db.one("SELECT 1 FROM groups WHERE chat_id = ?", new_chat_id)
            if exists is None:
                names = ", ".join(GROUP_COLUMNS)
                # A copy under the new id, then the children, then the old row: the
                # foreign keys hold at every step.
                await db.execute(
                    f"INSERT INTO groups (chat_id, {names})"
                    f" SELECT CAST(? AS BIGINT), {names} FROM groups WHERE chat_id = ?",
                    (new_chat_id, old_chat_id),
                )
            else:
                await self._give_way(db, old_chat_id, new_chat_id)
            for table in GROUP_TABLES:
                await db.execute(
                    f"UPDATE {table} SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
                )
            await db.execute("DELETE FROM groups WHERE chat_id = ?", (old_chat_id,))
            await db.execute(
                "UPDATE deals SET card_message_id = NULL WHERE chat_id = ? AND status = 'open'",
                (new_chat_id,),
            )
            rows = await db.all(
                "SELECT * FROM deals WHERE chat_id = ? AND status = 'open'", new_chat_id
            )
        return [_deal(row) for row in rows]

    @staticmethod
    async def _give_way(db: Tx, old_chat_id: int, new_chat_id: int) -> None:
        """The supergroup has rows of its own already: where the old group's rows would
        collide with them (the same leader, point, referee, invitee or reminder), the
        supergroup's stay. Orders and deals at an old pickup point move to the
        supergroup's point of that name."""
        same_point = (
            "SELECT n.id FROM pickup_points o JOIN pickup_points n"
            " ON n.chat_id = ? AND n.name = o.name WHERE o.chat_id = ? AND o.id = {}.pickup_id"
        )
        for table in ("orders", "deal_pickups"):
            await db.execute(
                f"UPDATE {table} SET pickup_id = ({same_point.format(table)})"
                f" WHERE EXISTS ({same_point.format(table)})",
                (new_chat_id, old_chat_id, new_chat_id, old_chat_id),
            )
        for table, key in GROUP_KEYS.items():
            match = " AND ".join(f"n.{column} = {table}.{column}" for column in key)
            await db.execute(
                f"DELETE FROM {table} WHERE chat_id = ? AND EXISTS"
                f" (SELECT 1 FROM {table} n WHERE n.chat_id = ? AND {match})",
                (old_chat_id, new_chat_id),
            )

    # -- closing ----------------------------------------------------------------------

    async def close_due(self, deal_id: int, now: int) -> ClosedRound | None:
        """Close the deal if its deadline has passed; None if it is not due or already closed."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None or deal.status is not DealStatus.OPEN or now < deal.deadline:
                return None
            return await self._end_deal(db, deal, now, None)

    async def close_deal(
        self, deal_id: int, now: int, choice: rounds.CloseChoice | None
    ) -> ClosedRound | None:
        """The leader ends the deal now; None if it was not open."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None or deal.status is not DealStatus.OPEN:
                return None
            return await self._end_deal(db, deal, now, choice)

    async def _end_deal(
        self,
        db: Tx,
        deal: Deal,
        now: int,
        choice: rounds.CloseChoice | None,
    ) -> ClosedRound | None:
        open_round = await self._open_round(db, deal.id)
        if open_round is None:
            await self._mark_deal(db, deal.id, DealStatus.CLOSED, now)
            return None
        members = await self._count_members(db, open_round.id)
        outcome = rounds.at_close(members, deal.min_members, choice)
        # The deal ends with this round: no fresh round may open after it.
        await self._mark_deal(db, deal.id, DealStatus.CLOSED, now)
        closed = await self._close_round(db, deal, open_round, outcome, now)
        assert closed is not None
        return closed

    async def cancel_deal(self, deal_id: int, now: int) -> CancelledDeal | None:
        """Cancel the deal whole: every order, confirmed or not, is cancelled."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None or deal.status is DealStatus.CANCELLED:
                return None
            rows = await db.all(
                "SELECT m.*, SUM(o.quantity) AS quantity FROM orders o"
                " JOIN members m ON m.user_id = o.user_id"
                " WHERE o.deal_id = ? AND o.status <> 'cancelled'"
                " GROUP BY m.user_id ORDER BY MIN(o.id)",
                deal_id,
            )
            lines = [Line(member=_member(row), quantity=int(row["quantity"])) for row in rows]
            await self._reverse_rewards(db, deal_id, now)
            await db.execute(
                "UPDATE orders SET status = 'cancelled', updated_at = ?"
                " WHERE deal_id = ? AND status <> 'cancelled'",
                (now, deal_id),
            )
            await db.execute(
                "UPDATE rounds SET status = 'cancelled', closed_at = ?"
                " WHERE deal_id = ? AND status = 'open'",
                (now, deal_id),
            )
            await db.execute("UPDATE deals SET taken = 0 WHERE id = ?", (deal_id,))
            await db.execute("UPDATE deal_options SET taken = 0 WHERE deal_id = ?", (deal_id,))
            await self._end_waitlist(db, deal_id)
            await self._mark_deal(db, deal_id, DealStatus.CANCELLED, now)
            deal = await self._reload_deal(db, deal_id)
        return CancelledDeal(deal=deal, lines=lines)

    async def _close_round(
        self,
        db: Tx,
        deal: Deal,
        open_round: Round,
        outcome: RoundStatus,
        now: int,
    ) -> ClosedRound | None:
        """End one round as formed or failed; a fresh round follows a formed one if it may."""
        if not await db.change(
            "UPDATE rounds SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'",
            str(outcome),
            now,
            open_round.id,
        ):
            return None  # somebody closed it first: closing is idempotent
        offers: list[Offer] = []
        if outcome is RoundStatus.FORMED:
            await db.execute(
                "UPDATE orders SET status = 'confirmed', updated_at = ?"
                " WHERE round_id = ? AND status = 'pending'",
                (now, open_round.id),
            )
            await self._give_codes(db, open_round.id)
            lines = await self._lines(db, open_round.id, "confirmed")
            await self._credit_referrers(db, deal, open_round.id, now)
        else:
            lines = await self._lines(db, open_round.id, "pending")
            released = list(
                await db.all(
                    "SELECT quantity, option_id FROM orders WHERE round_id = ?"
                    " AND status = 'pending'",
                    open_round.id,
                )
            )
            await db.execute(
                "UPDATE orders SET status = 'cancelled', updated_at = ?"
                " WHERE round_id = ? AND status = 'pending'",
                (now, open_round.id),
            )
            await self._release(db, deal.id, released)
        deal = await self._reload_deal(db, deal.id)
        next_round = None
        if outcome is RoundStatus.FORMED and deal.status is DealStatus.OPEN:
            if rounds.opens_next_round(
                mode=deal.mode,
                now=now,
                deadline=deal.deadline,
                stock=deal.stock,
                taken=deal.taken,
                options_exhausted=_exhausted(await self._options(db, deal.id)),
            ):
                next_round = open_round.number + 1
                await db.execute(
                    "INSERT INTO rounds (deal_id, number, opened_at) VALUES (?, ?, ?)",
                    (deal.id, next_round, now),
                )
                offers = await self._offer_freed(db, deal.id, now)
        if next_round is None and deal.status is DealStatus.OPEN:
            await self._mark_deal(db, deal.id, DealStatus.CLOSED, now)
            deal = await self._reload_deal(db, deal.id)
        if deal.status is not DealStatus.OPEN:
            await self._end_waitlist(db, deal.id)
        closed_row = await db.one("SELECT * FROM rounds WHERE id = ?", open_round.id)
        assert closed_row is not None
        return ClosedRound(
            deal=deal, round=_round(closed_row), lines=lines, next_round=next_round, offers=offers
        )

    async def _give_codes(self, db: Tx, round_id: int) -> None:
        """A short collection code for each confirmed order of the round."""
        rows = await db.all(
            "SELECT id FROM orders WHERE round_id = ? AND status = 'confirmed' AND code IS NULL",
            round_id,
        )
        if not rows:
            return
        # Drawn for the whole round at once and written in one statement: a clash among
        # 32^5 codes is rare; the clashing ones are drawn again.
        codes: dict[int, str] = {}
        while len(codes) < len(rows):
            drawn = {
                int(row["id"]): "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))
                for row in rows
                if int(row["id"]) not in codes
            }
            taken = {*codes.values()}
            marks = ", ".join("?" * len(drawn))
            for row in await db.all(
                f"SELECT code FROM orders WHERE code IN ({marks})", *drawn.values()
            ):
                taken.add(row["code"])
            for order_id, code in drawn.items():
                if code not in taken:
                    codes[order_id] = code
                    taken.add(code)
        cases = " ".join("WHEN ? THEN ?" for _ in codes)
        await db.execute(
            f"UPDATE orders SET code = CASE id {cases} END"
            f" WHERE id IN ({', '.join('?' * len(codes))})",
            (*(v for pair in codes.items() for v in pair), *codes),
        )

    async def _end_waitlist(self, db: Tx, deal_id: int) -> None:
        """The deal has ended: nobody waits for it any more, and held units go back."""
        await db.execute(
            "UPDATE waitlist SET status = 'gone' WHERE deal_id = ?"
            " AND status IN ('waiting', 'offered')",
            (deal_id,),
        )

    async def order_by_code(self, code: str) -> OrderRow | None:
        """The confirmed order a collection code belongs to."""
        rows = await self._order_rows("o.code = ?", code.strip().upper())
        return rows[0] if rows else None

    # -- reminders --------------------------------------------------------------------

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

    # -- orders, summaries and marks --------------------------------------------------

    _ORDER_ROWS = (
        "SELECT o.id AS o_id, o.deal_id AS o_deal_id, o.round_id, o.user_id AS o_user_id,"
        " o.quantity, o.unit_price, o.status AS o_status, o.created_at AS o_created_at,"
        " o.paid_at, o.collected_at, o.option_id, o.pickup_id, o.code, o.paid_claimed_at,"
        " r.number AS round_number, g.title AS group_title, op.name AS option_name,"
        " p.name AS pickup_name,"
        " m.user_id, m.first_name, m.last_name, m.username, m.language_code, m.forgotten_number,"
        " d.*"
        " FROM orders o JOIN rounds r ON r.id = o.round_id JOIN deals d ON d.id = o.deal_id"
        " JOIN members m ON m.user_id = o.user_id JOIN groups g ON g.chat_id = d.chat_id"
        " LEFT JOIN deal_options op ON op.id = o.option_id"
        " LEFT JOIN pickup_points p ON p.id = o.pickup_id"
    )

    async def _order_rows(self, where: str, *args: Any) -> list[OrderRow]:
        rows = await self._r.all(f"{self._ORDER_ROWS} WHERE {where}", *args)
        return [_order_row(row) for row in rows]

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

    async def orders_of_deal(self, deal_id: int) -> list[OrderRow]:
        """Every order of a deal, whatever its status, in the order they came."""
        return await self._order_rows("o.deal_id = ? ORDER BY r.number, o.id", deal_id)

    async def orders_of_member(self, user_id: int, limit: int = 30) -> list[OrderRow]:
        """A member's most recent orders across groups, newest first."""
        return await self._order_rows("o.user_id = ? ORDER BY o.id DESC LIMIT ?", user_id, limit)

    async def get_order(self, order_id: int) -> OrderRow | None:
        """One order with its context."""
        rows = await self._order_rows("o.id = ?", order_id)
        return rows[0] if rows else None

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

    async def unpaid_orders(self, chat_id: int) -> list[OrderRow]:
        """Confirmed orders of the group not marked paid, member by member."""
        return await self._order_rows(
            "d.chat_id = ? AND o.status = 'confirmed' AND o.paid_at IS NULL"
            " ORDER BY m.first_name, m.user_id, o.id",
            chat_id,
        )

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

    async def pickup_points(self, chat_id: int) -> list[PickupPoint]:
        """The group's active pickup points."""
        return await self._pickup_points(self._r, chat_id)

    async def set_pickup_points(self, chat_id: int, names: list[str]) -> list[PickupPoint]:
        """Make these the group's pickup points; points no longer listed are retired."""
        async with self._transaction() as db:
            await db.execute("UPDATE pickup_points SET active = 0 WHERE chat_id = ?", (chat_id,))
            for name in names:
                await db.execute(
                    "INSERT INTO pickup_points (chat_id, name) VALUES (?, ?)"
                    " ON CONFLICT (chat_id, name) DO UPDATE SET active = 1",
                    (chat_id, name),
                )
            return await self._pickup_points(db, chat_id)

    async def groups_led_by(self, user_id: int) -> list[Group]:
        """Groups in which this user has posted a deal."""
        rows = await self._r.all(
            "SELECT * FROM groups WHERE chat_id IN"
            " (SELECT DISTINCT chat_id FROM deals WHERE leader_id = ?) ORDER BY chat_id",
            user_id,
        )
        return [_group(row) for row in rows]

    async def all_groups(self) -> list[Group]:
        """Every group the bot serves."""
        rows = await self._r.all("SELECT * FROM groups ORDER BY chat_id")
        return [_group(row) for row in rows]

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

    # -- referrals and the ledger -----------------------------------------------------

    async def _chain(self, db: Tx, chat_id: int, user_id: int) -> list[int]:
        """Who brought `user_id` to the group, who brought them, … (at most 3 deep)."""
        chain: list[int] = []
        current = user_id
        while len(chain) < referrals.MAX_LEVELS:
            row = await db.one(
                "SELECT referrer_id FROM referrals WHERE chat_id = ? AND referee_id = ?",
                chat_id,
                current,
            )
            if row is None or row[0] in chain or row[0] == user_id:
                break
            current = int(row[0])
            chain.append(current)
        return chain

    async def attribute(
        self, chat_id: int, referee: int, referrer: int, deal_id: int, now: int
    ) -> referrals.Attribution:
        """Record that `referrer` brought `referee` to the group, if the rules allow it."""
        async with self._transaction() as db:
            # Links opened at once must see each other: else two could close a cycle.
            await self._hold(db, "referrals", chat_id)
            existing = await db.one(
                "SELECT referrer_id FROM referrals WHERE chat_id = ? AND referee_id = ?",
                chat_id,
                referee,
            )
            ordered = await db.one(
                "SELECT 1 FROM orders o JOIN deals d ON d.id = o.deal_id"
                " WHERE d.chat_id = ? AND o.user_id = ? LIMIT 1",
                chat_id,
                referee,
            )
            verdict = referrals.attribution(
                referee=referee,
                referrer=referrer,
                existing_referrer=int(existing[0]) if existing else None,
                has_ordered=ordered is not None,
                referrer_chain=[referrer, *await self._chain(db, chat_id, referrer)],
            )
            if verdict is referrals.Attribution.ATTRIBUTED:
                await db.execute(
                    "INSERT INTO referrals (chat_id, referee_id, referrer_id, deal_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (chat_id, referee, referrer, deal_id, now),
                )
        return verdict

    async def _credit_referrers(self, db: Tx, deal: Deal, round_id: int, now: int) -> None:
        """Credit the referrers of a formed round's referred orders, per the group's rule."""
        group_row = await db.one("SELECT * FROM groups WHERE chat_id = ?", deal.chat_id)
        assert group_row is not None
        group = _group(group_row)
        rule = referrals.RewardRule(group.reward_kind, group.reward_value, group.levels)
        if rule.value <= 0:
            return
        orders = await db.all(
            "SELECT id, quantity * unit_price AS amount, referrer_id FROM orders"
            " WHERE round_id = ? AND status = 'confirmed' AND referrer_id IS NOT NULL",
            round_id,
        )
        for order in orders:
            referrer = int(order["referrer_id"])
            chain = [referrer, *await self._chain(db, deal.chat_id, referrer)]
            for user_id, level, amount in referrals.rewards(int(order["amount"]), chain, rule):
                await db.execute(
                    "INSERT INTO ledger (chat_id, user_id, kind, amount, currency,"
                    " order_id, level, created_at) VALUES (?, ?, 'reward', ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (deal.chat_id, user_id, amount, deal.currency, order["id"], level, now),
                )

    async def _reverse_rewards(self, db: Tx, deal_id: int, now: int) -> None:
        """Write a reversal for every reward of the deal's confirmed orders not yet reversed."""
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, order_id, level,"
            " reverses_id, created_at)"
            " SELECT l.chat_id, l.user_id, 'reversal', -l.amount, l.currency, l.order_id,"
            " l.level, l.id, CAST(? AS BIGINT)"
            " FROM ledger l JOIN orders o ON o.id = l.order_id"
            " WHERE o.deal_id = ? AND o.status = 'confirmed' AND l.kind = 'reward'"
            " AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.reverses_id = l.id)",
            (now, deal_id),
        )

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

    async def balance(self, chat_id: int, user_id: int) -> int:
        """A member's balance in a group: the sum of their entries."""
        row = await self._r.one(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE chat_id = ? AND user_id = ?",
            chat_id,
            user_id,
        )
        return int(row[0]) if row else 0

    async def balances(self, user_id: int) -> list[Balance]:
        """A member's balance in every group where they have entries."""
        rows = await self._r.all(
            "SELECT l.chat_id, g.title, SUM(l.amount) AS amount, MAX(l.currency) AS currency"
            " FROM ledger l JOIN groups g ON g.chat_id = l.chat_id WHERE l.user_id = ?"
            " GROUP BY l.chat_id, g.title ORDER BY l.chat_id",
            user_id,
        )
        return [
            Balance(int(r["chat_id"]), r["title"], int(r["amount"]), r["currency"]) for r in rows
        ]

    async def ledger_entries(self, user_id: int, limit: int = 20) -> list[LedgerEntry]:
        """A member's most recent ledger entries across groups, newest first."""
        rows = await self._r.all(
            "SELECT l.*, g.title AS group_title, g.tz AS group_tz FROM ledger l"
            " JOIN groups g ON g.chat_id = l.chat_id WHERE l.user_id = ?"
            " ORDER BY l.id DESC LIMIT ?",
            user_id,
            limit,
        )
        return [_entry(row) for row in rows]

    async def payout(
        self, chat_id: int, user_id: int, amount: int, currency: str, by_user: int, now: int
    ) -> int:
        """Record a payout to a member; raises UserError if it exceeds the balance."""
        async with self._transaction() as db:
            await self._hold(db, "balance", chat_id, user_id)
            row = await db.one(
                "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE chat_id = ? AND user_id = ?",
                chat_id,
                user_id,
            )
            balance = int(row[0]) if row else 0
            if amount <= 0 or amount > balance:
                raise UserError("payout_too_much", balance=balance, currency=currency)
            await db.execute(
                "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, by_user,"
                " created_at) VALUES (?, ?, 'payout', ?, ?, ?, ?)",
                (chat_id, user_id, -amount, currency, by_user, now),
            )
        return balance - amount

    async def _hold(self, db: Tx, *key: object) -> None:
        """Hold what `key` names until the transaction ends, for checks that read rows
        and then write new ones (a balance, a group's referral tree).

        Under PostgreSQL's READ COMMITTED two such transactions would each see the rows
        from before the other, and no row exists to lock for them; a transaction-scoped
        advisory lock on the key's hash stands in for one. SQLite already runs one writing
        transaction at a time.
        """
        if self.engine.dialect == "postgres":
            await db.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                (":".join(map(str, key)),),
            )

    async def record_group_invite(
        self, chat_id: int, inviter_id: int, invitee_id: int, now: int
    ) -> bool:
        """Count that `inviter` added `invitee` to the group; False if already counted."""
        if inviter_id == invitee_id:
            return False
        # Ids only: adding somebody to a group is no use of the bot, so neither person's
        # name is stored for it (/top asks Telegram for the names it shows).
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "INSERT INTO group_invites (chat_id, invitee_id, inviter_id,"
                    " created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    chat_id,
                    invitee_id,
                    inviter_id,
                    now,
                )
            )

    async def leaderboard(self, chat_id: int, limit: int = 10) -> list[Standing]:
        """The group's best referrers: confirmed referred orders, then group invites."""
        rows = await self._r.all(
            "WITH score AS ("
            " SELECT o.referrer_id AS user_id, COUNT(*) AS referred, 0 AS invites"
            " FROM orders o JOIN deals d ON d.id = o.deal_id"
            " WHERE d.chat_id = ? AND o.status = 'confirmed' AND o.referrer_id IS NOT NULL"
            " GROUP BY o.referrer_id"
            " UNION ALL SELECT inviter_id, 0, COUNT(*) FROM group_invites WHERE chat_id = ?"
            " GROUP BY inviter_id), total AS (SELECT user_id, SUM(referred) AS referred,"
            " SUM(invites) AS invites FROM score GROUP BY user_id)"
            " SELECT t.user_id, COALESCE(m.first_name, '') AS first_name,"
            " COALESCE(m.last_name, '') AS last_name, m.username, m.language_code,"
            " m.forgotten_number, t.referred, t.invites"
            " FROM total t LEFT JOIN members m ON m.user_id = t.user_id"
            " ORDER BY t.referred DESC, t.invites DESC, t.user_id LIMIT ?",
            chat_id,
            chat_id,
            limit,
        )
        return [Standing(_member(r), int(r["referred"]), int(r["invites"])) for r in rows]

    async def group_leaders(self, chat_id: int) -> list[Member]:
        """The leaders the group named itself (administrators lead without being named)."""
        rows = await self._r.all(
            "SELECT m.* FROM group_leaders l JOIN members m ON m.user_id = l.user_id"
            " WHERE l.chat_id = ? ORDER BY l.added_at, m.user_id",
            chat_id,
        )
        return [_member(row) for row in rows]

    async def is_group_leader(self, chat_id: int, user_id: int) -> bool:
        """Whether the group named this user a leader."""
        row = await self._r.one(
            "SELECT 1 FROM group_leaders WHERE chat_id = ? AND user_id = ?",
            chat_id,
            user_id,
        )
        return row is not None

    async def set_group_leader(
        self, chat_id: int, member: Member, leader: bool, by_user: int, now: int
    ) -> bool:
        """Name or un-name a leader of the group; False if nothing changed."""
        async with self._transaction() as db:
            await self._save_member(db, member, now)
            if leader:
                sql = (
                    "INSERT INTO group_leaders (chat_id, user_id, added_by, added_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
                )
                return bool(await db.change(sql, chat_id, member.user_id, by_user, now))
            sql = "DELETE FROM group_leaders WHERE chat_id = ? AND user_id = ?"
            return bool(await db.change(sql, chat_id, member.user_id))

    async def update_group(self, chat_id: int, **settings: Any) -> Group:
        """Change a group's settings (column names from the migrations) and return them."""
        allowed = {
            "lang",
            "tz",
            "currency",
            "summary_time",
            "reward_kind",
            "reward_value",
            "levels",
            "privacy",
        }
        assert settings and set(settings) <= allowed, settings
        assignments = ", ".join(f"{column} = ?" for column in settings)
        async with self._transaction() as db:
            if "currency" in settings:
                await self._check_currency_change(db, chat_id, settings["currency"])
            await db.execute(
                f"UPDATE groups SET {assignments} WHERE chat_id = ?",
                (*settings.values(), chat_id),
            )
            row = await db.one("SELECT * FROM groups WHERE chat_id = ?", chat_id)
        assert row is not None
        return _group(row)

    @staticmethod
    async def _check_currency_change(db: Tx, chat_id: int, currency: str) -> None:
        """UserError while a new currency would be added to amounts in the old one: open
        deals, referral balances not paid out, or a fixed reward (kept as a number)."""
        row = await db.one(
            "SELECT g.currency, g.reward_kind, g.reward_value,"
            " EXISTS (SELECT 1 FROM deals WHERE chat_id = g.chat_id AND status = 'open')"
            "  AS deals,"
            " EXISTS (SELECT 1 FROM ledger WHERE chat_id = g.chat_id GROUP BY user_id"
            "  HAVING SUM(amount) <> 0) AS balances"
            " FROM groups g WHERE g.chat_id = ?",
            chat_id,
        )
        if row is None or row["currency"] == currency:
            return
        for reason, busy in (
            ("deals", row["deals"]),
            ("balances", row["balances"]),
            ("reward", row["reward_kind"] == "fixed" and row["reward_value"] > 0),
        ):
            if busy:
                raise UserError("settings_currency_busy", reason=reason, currency=row["currency"])

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
    return _build(Group, row)


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
    )
    return OrderRow(
        order=order,
        member=_member(row),
        deal=_deal(row),
        round_number=row["round_number"],
        group_title=row["group_title"],
        option=row["option_name"],
        pickup=row["pickup_name"],
    )
