"""Rounds of a deal: joining and leaving, the pickup point an order is collected at,
closing and cancelling, and collection codes."""

from __future__ import annotations

import secrets
from dataclasses import replace

from bot.core import rounds
from bot.core.errors import UserError
from bot.core.models import (
    CancelledDeal,
    ClosedRound,
    Deal,
    DealOption,
    DealStatus,
    JoinOutcome,
    LeaveOutcome,
    Line,
    Member,
    Offer,
    PickupPoint,
    Round,
    RoundStatus,
)
from storage.engines import PostgresEngine, Row, SqliteEngine, Tx
from storage.repos.base import _DEAL_PICKUPS, Repository, _exhausted, _member, _round
from storage.repos.deliveries import DeliveriesRepo
from storage.repos.groups import GroupsRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.notices import NOTICE_LEASE
from storage.repos.waitlist import WaitlistRepo

# Collection codes: no 0/O, 1/I/L, so that they read out loud without doubt.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class RoundsRepo(Repository):
    """Orders taken and given back in a deal's rounds, and rounds (and deals) ended.

    A join claims its tap (deliveries), may take a unit the waitlist held and may close
    the round; a close credits referrers (ledger) and offers or ends the waitlist: each
    in the one transaction of the join, leave, close or cancel.
    """

    def __init__(
        self,
        engine: SqliteEngine | PostgresEngine,
        *,
        groups: GroupsRepo,
        waitlist: WaitlistRepo,
        ledger: LedgerRepo,
        deliveries: DeliveriesRepo,
    ) -> None:
        super().__init__(engine)
        self._groups = groups
        self._waitlist = waitlist
        self._ledger = ledger
        self._deliveries = deliveries

    # -- joining and leaving ----------------------------------------------------------

    async def join_round(
        self,
        deal_id: int,
        member: Member,
        now: int,
        tap_id: str | None = None,
        option_id: int | None = None,
        offer_id: int | None = None,
        via_chat_id: int | None = None,
        referrer: int | None = None,
    ) -> JoinOutcome:
        """Add one unit to the member's order in the open round, or raise why not.

        Limit and stock are checked and the order written in one transaction; the round
        forms (or the tipping point is marked) in that same transaction, so no tap can
        slip between the count and the close. A tap delivered twice counts once. With
        `offer_id` the unit is the one a waitlist offer holds for this member;
        `via_chat_id` is the further group whose card was tapped (a new order notes it);
        `referrer` shared the card tapped: a member's first unit in the deal attributes
        them to the sharer first, by the usual rules, in this same transaction.
        """
        # Each statement in the transaction holds the write lock a little longer (on
        # SQLite a trip to the connection's thread), so what can be known before it, or
        # asked in one statement, is: the member is written only when new or changed.
        known = await self._groups.known_member(member.user_id)
        async with self._transaction() as db:
            await self._deliveries.claim_tap(db, tap_id, now)
            if known != member:
                await self._groups.write_member(db, member, now)
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
            holding = offer_id is not None and await self._waitlist.use_offer(
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
                starts_at=deal.starts_at,
            )
            assert open_round is not None and facts is not None
            if not holding:
                await self._take_unit(db, deal_id, option)
            if referrer is not None and held == 0 and referrer != member.user_id:
                await self._ledger.attribute_in(
                    db, deal.chat_id, member.user_id, referrer, deal.id, now
                )
            order = await self._add_unit(
                db, deal, open_round.id, member.user_id, option, now, new=held == 0, via=via_chat_id
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
        self._groups.saw(member)
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
        via: int | None = None,
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
            " created_at, updated_at, via_chat_id, referrer_id, pickup_id)"
            " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?,"
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
            via,
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
            await self._deliveries.claim_tap(db, tap_id, now)
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
            offers = await self._waitlist.offer_freed(db, deal_id, now)
            members = await self._count_members(db, open_round.id)
            deal = await self._reload_deal(db, deal_id)
        return LeaveOutcome(
            deal=deal,
            round_number=open_round.number,
            released=sum(int(order["quantity"]) for order in orders),
            members=members,
            offers=offers,
        )

    # -- closing and cancelling -------------------------------------------------------

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
            await self._ledger.reverse_rewards(db, deal_id, now)
            refunds_due = await db.change(
                "UPDATE orders SET refund_due_at = ? WHERE deal_id = ? AND status <> 'cancelled'"
                " AND paid_at IS NOT NULL AND refund_due_at IS NULL",
                now,
                deal_id,
            )
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
            await self._waitlist.end_waitlist(db, deal_id)
            await self._mark_deal(db, deal_id, DealStatus.CANCELLED, now)
            deal = await self._reload_deal(db, deal_id)
        return CancelledDeal(deal=deal, lines=lines, refunds_due=refunds_due)

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
            "UPDATE rounds SET status = ?, closed_at = ?, joined = (SELECT COUNT(DISTINCT"
            " user_id) FROM orders WHERE round_id = rounds.id AND status <> 'cancelled'),"
            " notice_lease_until = ? WHERE id = ? AND status = 'open'",
            str(outcome),
            now,
            # A formed round's messages are owed, and this closer holds them (notices.py).
            now + NOTICE_LEASE if outcome is RoundStatus.FORMED else None,
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
            await self._ledger.credit_referrers(db, deal, open_round.id, now)
            await self._ledger.credit_helpers(db, open_round.id, now)
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
                offers = await self._waitlist.offer_freed(db, deal.id, now)
        if next_round is None and deal.status is DealStatus.OPEN:
            await self._mark_deal(db, deal.id, DealStatus.CLOSED, now)
            deal = await self._reload_deal(db, deal.id)
        if deal.status is not DealStatus.OPEN:
            await self._waitlist.end_waitlist(db, deal.id)
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
