"""Groups and the people in them: settings, members (and which of them this process
has seen), named leaders, pickup points, and a group's move to a supergroup."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.errors import UserError
from bot.core.models import Deal, Group, Member, PickupPoint
from storage.engines import PostgresEngine, SqliteEngine, Tx
from storage.repos.base import _USERNAME_HOLDER, Repository, _deal, _group, _member

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
    "pin",
    "pin_warned",
    "pay",
    "pay_note",
    "pay_qr",
    "pay_within",
    "pay_within_at",
)
# Every table but groups that names a group by chat_id, and what else keys its rows
# within a group: a group that becomes a supergroup takes them all along.
GROUP_KEYS = {
    "group_leaders": ("user_id",),
    "pickup_points": ("name",),
    "payment_reminders": ("user_id", "day"),
    "referrals": ("referee_id",),
    "group_invites": ("invitee_id",),
    "deal_groups": ("deal_id",),
}
GROUP_TABLES = ("deals", "ledger", *GROUP_KEYS)
MEMBERS_SEEN = 10_000  # members a process remembers as stored (see GroupsRepo._members_seen)


class GroupsRepo(Repository):
    """Groups, their settings, leaders and pickup points; members, across groups."""

    def __init__(self, engine: SqliteEngine | PostgresEngine) -> None:
        super().__init__(engine)
        # Members as this process last wrote or read them: a tap by someone already
        # stored as they are needs no read of them, and no write (a flash sale is mostly
        # such taps). Filled only after a commit, so whatever it holds is in the store.
        self._members_seen: dict[int, Member] = {}

    # -- groups and their settings ----------------------------------------------------

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

    async def all_groups(self) -> list[Group]:
        """Every group the bot serves."""
        rows = await self._r.all("SELECT * FROM groups ORDER BY chat_id")
        return [_group(row) for row in rows]

    async def groups_led_by(self, user_id: int) -> list[Group]:
        """Groups in which this user has posted a deal."""
        rows = await self._r.all(
            "SELECT * FROM groups WHERE chat_id IN"
            " (SELECT DISTINCT chat_id FROM deals WHERE leader_id = ?) ORDER BY chat_id",
            user_id,
        )
        return [_group(row) for row in rows]

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
            "pin",
            "pin_warned",
            "pay",
            "pay_note",
            "pay_qr",
            "pay_within",
            "pay_within_at",
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

    async def mark_pin_warned(self, chat_id: int) -> bool:
        """Note that the group's leaders were told the bot may not pin; False if they
        were already (since the setting was last turned on)."""
        async with self._transaction() as db:
            return bool(
                await db.change(
                    "UPDATE groups SET pin_warned = 1 WHERE chat_id = ? AND pin_warned = 0",
                    chat_id,
                )
            )

    # -- members ----------------------------------------------------------------------

    @staticmethod
    async def write_member(db: Tx, member: Member, now: int) -> None:
        """Remember a member as given, inside the caller's transaction."""
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

    def saw(self, member: Member) -> None:
        """Note a member as the store now holds them (after the commit that wrote them)."""
        self._members_seen.pop(member.user_id, None)
        self._members_seen[member.user_id] = member
        if len(self._members_seen) > MEMBERS_SEEN:
            del self._members_seen[next(iter(self._members_seen))]  # the one seen longest ago

    async def known_member(self, user_id: int) -> Member | None:
        """A member as this process last saw them stored, else as the store has them."""
        return self._members_seen.get(user_id) or await self.get_member(user_id)

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
            await self.write_member(db, member, now)

    async def set_member_lang(self, user_id: int, lang: str | None, now: int) -> None:
        """A member's own language (/lang), or None to follow Telegram's again."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE members SET lang = ?, updated_at = ? WHERE user_id = ?",
                (lang, now, user_id),
            )
        if (seen := self._members_seen.get(user_id)) is not None:
            self._members_seen[user_id] = replace(seen, lang=lang)

    async def member_langs(self) -> dict[int, str]:
        """Every language members chose with /lang, by user id."""
        rows = await self._r.all("SELECT user_id, lang FROM members WHERE lang IS NOT NULL")
        return {row["user_id"]: row["lang"] for row in rows}

    async def forget_member(self, user_id: int, now: int) -> bool:
        """Blank a member's personal fields (/forgetme), keeping the row their orders and
        ledger entries point to; False if nothing was stored or it was already forgotten."""
        async with self._transaction() as db:
            forgotten = await db.change(
                "UPDATE members SET first_name = '', last_name = '', username = NULL,"
                " language_code = NULL, lang = NULL, updated_at = ?, forgotten_at = ?,"
                " forgotten_number = (SELECT COALESCE(MAX(forgotten_number), 0) + 1"
                "  FROM members) WHERE user_id = ? AND forgotten_number IS NULL",
                now,
                now,
                user_id,
            )
        self._members_seen.pop(user_id, None)
        return bool(forgotten)

    # -- leaders the group named ------------------------------------------------------

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
            await self.write_member(db, member, now)
            if leader:
                sql = (
                    "INSERT INTO group_leaders (chat_id, user_id, added_by, added_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
                )
                return bool(await db.change(sql, chat_id, member.user_id, by_user, now))
            sql = "DELETE FROM group_leaders WHERE chat_id = ? AND user_id = ?"
            return bool(await db.change(sql, chat_id, member.user_id))

    # -- pickup points ----------------------------------------------------------------

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

    # -- a group becomes a supergroup -------------------------------------------------

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
            # The cards are posted (and pinned) anew in the supergroup; another group's deal
            # it showed is shown again with /share there.
            await db.execute(
                "UPDATE deals SET card_message_id = NULL, pinned = 0"
                " WHERE chat_id = ? AND status = 'open'",
                (new_chat_id,),
            )
            await db.execute(
                "UPDATE deal_groups SET card_message_id = NULL WHERE chat_id = ?", (new_chat_id,)
            )
            await db.execute(
                "UPDATE orders SET via_chat_id = ? WHERE via_chat_id = ?",
                (new_chat_id, old_chat_id),
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
