"""Referrals and the ledger: who brought whom, rewards and their reversals, balances and
payouts, group invites and the leaderboard."""

from __future__ import annotations

from bot.core import referrals
from bot.core.errors import UserError
from bot.core.models import Balance, Deal, LedgerEntry, Standing
from storage.engines import Tx
from storage.repos.base import Repository, _entry, _group, _member


class LedgerRepo(Repository):
    """The referral tree of each group and the money it earns members.

    `credit_referrers` and `reverse_rewards` are steps inside a transaction of closing
    or cancelling (see RoundsRepo).
    """

    # -- referrals --------------------------------------------------------------------

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
            return await self.attribute_in(db, chat_id, referee, referrer, deal_id, now)

    async def attribute_in(
        self, db: Tx, chat_id: int, referee: int, referrer: int, deal_id: int, now: int
    ) -> referrals.Attribution:
        """`attribute` as a step of another transaction (a join through a shared card)."""
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

    # -- rewards ----------------------------------------------------------------------

    async def credit_referrers(self, db: Tx, deal: Deal, round_id: int, now: int) -> None:
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

    async def credit_helpers(self, db: Tx, round_id: int, now: int) -> None:
        """Credit each helper leader their commission on the round's confirmed orders that
        came through their group: once per order (a unique index), in the books of the
        deal's own group, whose leader owes it; not on their own orders, nor on an order
        that already earns them a referral reward."""
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, order_id,"
            " created_at) SELECT d.chat_id, g.helper_id, 'commission',"
            " o.quantity * o.unit_price * g.commission / 10000, d.currency, o.id,"
            " CAST(? AS BIGINT) FROM orders o JOIN deals d ON d.id = o.deal_id"
            " JOIN deal_groups g ON g.deal_id = o.deal_id AND g.chat_id = o.via_chat_id"
            " WHERE o.round_id = ? AND o.status = 'confirmed' AND g.helper_id IS NOT NULL"
            " AND o.quantity * o.unit_price * g.commission / 10000 > 0"
            # Never paid twice for one order: not on the helper's own order, nor on one
            # that already earns them a referral reward (credit_referrers runs first).
            " AND o.user_id <> g.helper_id AND NOT EXISTS (SELECT 1 FROM ledger r"
            "  WHERE r.order_id = o.id AND r.user_id = g.helper_id AND r.kind = 'reward')"
            " ON CONFLICT DO NOTHING",
            (now, round_id),
        )

    async def reverse_rewards(self, db: Tx, deal_id: int, now: int) -> None:
        """Write a reversal for every reward and commission of the deal's confirmed orders
        not yet reversed."""
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, order_id, level,"
            " reverses_id, created_at)"
            " SELECT l.chat_id, l.user_id, 'reversal', -l.amount, l.currency, l.order_id,"
            " l.level, l.id, CAST(? AS BIGINT)"
            " FROM ledger l JOIN orders o ON o.id = l.order_id"
            " WHERE o.deal_id = ? AND o.status = 'confirmed' AND l.kind IN ('reward', 'commission')"
            " AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.reverses_id = l.id)",
            (now, deal_id),
        )

    async def reverse_order_rewards(self, db: Tx, order_ids: list[int], now: int) -> None:
        """Write a reversal for every reward and commission of these orders not yet reversed (orders
        released unpaid: the rest of their deal stands)."""
        if not order_ids:
            return
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, order_id, level,"
            " reverses_id, created_at)"
            " SELECT l.chat_id, l.user_id, 'reversal', -l.amount, l.currency, l.order_id,"
            " l.level, l.id, CAST(? AS BIGINT) FROM ledger l"
            f" WHERE l.order_id IN ({', '.join('?' * len(order_ids))})"
            " AND l.kind IN ('reward', 'commission')"
            " AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.reverses_id = l.id)",
            (now, *order_ids),
        )

    # -- balances and payouts ---------------------------------------------------------

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
            "SELECT l.chat_id, g.title, SUM(l.amount) AS amount, MAX(l.currency) AS currency,"
            " SUM(CASE WHEN l.kind = 'commission' OR (l.kind = 'reversal' AND EXISTS"
            " (SELECT 1 FROM ledger c WHERE c.id = l.reverses_id AND c.kind = 'commission'))"
            " THEN l.amount ELSE 0 END) AS commission"
            " FROM ledger l JOIN groups g ON g.chat_id = l.chat_id WHERE l.user_id = ?"
            " GROUP BY l.chat_id, g.title ORDER BY l.chat_id",
            user_id,
        )
        return [
            Balance(
                int(r["chat_id"]), r["title"], int(r["amount"]), r["currency"], int(r["commission"])
            )
            for r in rows
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

    # -- group invites and the leaderboard --------------------------------------------

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
            " m.forgotten_number, m.lang, t.referred, t.invites"
            " FROM total t LEFT JOIN members m ON m.user_id = t.user_id"
            " ORDER BY t.referred DESC, t.invites DESC, t.user_id LIMIT ?",
            chat_id,
            chat_id,
            limit,
        )
        return [Standing(_member(r), int(r["referred"]), int(r["invites"])) for r in rows]
