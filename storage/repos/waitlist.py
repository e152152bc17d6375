"""The waitlist: members in line for a unit of a sold-out deal, offers that hold a freed
unit for the first in line a while, restocks, and the end of the line when a deal ends."""

from __future__ import annotations

from bot.core import rounds
from bot.core.errors import UserError
from bot.core.models import DealStatus, Offer
from storage.engines import Tx
from storage.repos.base import Repository

OFFER_SECONDS = 15 * 60  # how long a freed unit is held for the first in line


class WaitlistRepo(Repository):
    """The line for each deal and the offers made from it.

    `offer_freed`, `use_offer` and `end_waitlist` are steps inside a transaction of
    joining, leaving, closing or cancelling (see RoundsRepo).
    """

    async def wait_for_unit(
        self, deal_id: int, option_id: int | None, user_id: int, now: int
    ) -> bool:
        """Put the member in line for a unit; False if they already are."""
        async with self._transaction() as db:
            deal = await self._find_deal(db, deal_id)
            if deal is None or deal.status is not DealStatus.OPEN:
                raise UserError("tap_closed")
            if deal.starts_at is not None and deal.opens_later(now):
                raise rounds.not_started(deal.starts_at, now)  # nothing to wait for yet
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

    async def offer_freed(self, db: Tx, deal_id: int, now: int) -> list[Offer]:
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

    async def use_offer(
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
                offers += await self.offer_freed(db, deal_id, now)
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
            return await self.offer_freed(db, deal_id, now)

    async def end_waitlist(self, db: Tx, deal_id: int) -> None:
        """The deal has ended: nobody waits for it any more, and held units go back."""
        await db.execute(
            "UPDATE waitlist SET status = 'gone' WHERE deal_id = ?"
            " AND status IN ('waiting', 'offered')",
            (deal_id,),
        )
