"""The big store of bench/many_groups.py: thousands of groups, their open deals and orders,
written through the repositories (storage/repos) on the bot's own engine.

Groups, leaders and deals go through the repositories' public methods
(`GroupsRepo.ensure_group`, `DealsRepo.create_deal`, `set_card`); a deal's orders, many
at a time, through the repositories' transaction and their in-transaction step for
members (`GroupsRepo.write_member`), with the same columns `RoundsRepo.join_round`
writes: joining 200,000 times one tap at a time would take the generator longer than
the benchmark. The layout is fixed by `Layout`, so the benchmark knows every id.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.forms import DealForm, Mode
from bot.core.models import Member
from storage import open_store
from storage.engines import migration_files
from storage.store import Store

# The store's own "now" (a fixed day, so a cached store stays valid): noon, UTC.
BASE = int(datetime(2030, 3, 1, 12, 0, tzinfo=UTC).timestamp())
STORM_AT = BASE + 3600  # 13:00: the storm deals' shared deadline
SUMMARY_TIME = "14:00"  # the summary groups' daily summary
SUMMARY_AT = BASE + 2 * 3600
PRICE = 990


@dataclass(frozen=True)
class Layout:
    """How many of each, and the ids they get."""

    groups: int = 10_000
    open_deals: int = 20_000
    orders: int = 200_000
    storm: int = 1_000  # deals (one per group) closing at STORM_AT with a round of 10
    storm_members: int = 10
    summaries: int = 2_000  # groups (one leader each) whose summary is due at SUMMARY_AT

    def __post_init__(self) -> None:
        assert self.open_deals >= self.groups >= self.storm + self.summaries + 1
        assert self.orders >= self.storm * self.storm_members

    @property
    def members(self) -> int:
        """Members who ordered (each in several deals)."""
        return max(self.orders // 4, self.storm_members * 2)

    @property
    def orders_per_deal(self) -> int:
        """Pending orders of each deal that is not a storm deal."""
        rest = self.orders - self.storm * self.storm_members
        return rest // max(1, self.open_deals - self.storm)

    def chat(self, n: int) -> int:
        """Group n's chat id."""
        return -1_000_000_000_000 - n

    def leader(self, n: int) -> int:
        """Group n's leader (its creator)."""
        return 1_000_000 + n

    def member(self, k: int) -> int:
        """Member k of the pool."""
        return 3_000_000 + k % self.members

    def storm_groups(self) -> range:
        """Groups whose first deal is a storm deal."""
        return range(self.storm)

    def summary_groups(self) -> range:
        """Groups whose summary falls due at SUMMARY_AT (none of them a storm group)."""
        return range(self.storm, self.storm + self.summaries)

    @property
    def quiet_group(self) -> int:
        """The group whose members tap during the storm (neither storm nor summary)."""
        return self.storm + self.summaries

    def key(self) -> str:
        """What the store depends on: the sizes, the migrations and this generator."""
        digest = hashlib.sha256(repr(self).encode())
        for _, name, sql in migration_files("sqlite"):
            digest.update(name.encode() + sql.encode())
        digest.update(Path(__file__).read_bytes())
        return digest.hexdigest()[:16]


def form(title: str, *, deadline: int, min_members: int, mode: Mode) -> DealForm:
    """A deal as the leader's /deal would have it."""
    return DealForm(
        title=title,
        price=PRICE,
        min_members=min_members,
        deadline=datetime.fromtimestamp(deadline, UTC),
        stock=None,
        limit=None,
        mode=mode,
        note=None,
        description=None,
    )


async def build(path: Path, layout: Layout, cache: Path | None = None) -> Path:
    """The store at `path` (a copy of the cached one, if there is one)."""
    cached = cache / f"many-groups-{layout.key()}.db" if cache else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, path)
        return path
    store = open_store(str(path))
    await store.open()
    try:
        await _fill(store, layout)
    finally:
        await store.close()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cached)
    return path


async def _fill(store: Store, layout: Layout) -> None:
    created = BASE - 86400
    members = [Member(layout.member(k), f"M{k}", language_code="en") for k in range(layout.members)]
    async with store.engine.transaction() as db:
        for member in members:
            await store.groups.write_member(db, member, created)
    summary_groups = set(layout.summary_groups())
    next_member = 0
    deals_left = layout.open_deals
    for n in range(layout.groups):
        chat = layout.chat(n)
        leader = Member(layout.leader(n), f"Leader{n}", language_code="en")
        await store.groups.ensure_group(
            chat, f"Group {n}", tz="UTC", currency="CNY", lang="en", now=created
        )
        if n in summary_groups:
            await store.groups.update_group(chat, summary_time=SUMMARY_TIME)
        # Every group gets its share of the open deals; the first groups one more.
        count = deals_left // (layout.groups - n)
        deals_left -= count
        for d in range(count):
            storm = d == 0 and n < layout.storm
            if storm:
                deal_form = form(f"Storm {n}", deadline=STORM_AT, min_members=10, mode=Mode.TIPPING)
                size = layout.storm_members
            else:
                deadline = BASE + 2 * 86400 + (n * 7 + d * 3600) % (5 * 86400)
                deal_form = form(
                    f"Deal {n}.{d}", deadline=deadline, min_members=1_000, mode=Mode.ROUNDS
                )
                size = 0 if n == layout.quiet_group else layout.orders_per_deal
            deal = await store.deals.create_deal(
                chat_id=chat,
                leader=leader,
                form=deal_form,
                photo_file_id=None,
                currency="CNY",
                now=created,
            )
            await store.deals.set_card(deal.id, d + 1)  # the fake API shows message d + 1
            picked = [layout.member(next_member + i) for i in range(size)]
            next_member += size
            await _orders(store, deal.id, picked, created, tipped=storm)
        if n in summary_groups:
            await _formed_today(store, layout, n, leader, next_member)
            next_member += 3


async def _orders(store: Store, deal_id: int, users: list[int], now: int, *, tipped: bool) -> None:
    """Pending orders of one unit each in the deal's open round (as joins leave them)."""
    if not users:
        return
    async with store.engine.transaction() as db:
        round_row = await db.one(
            "SELECT id FROM rounds WHERE deal_id = ? AND status = 'open'", deal_id
        )
        assert round_row is not None
        marks = ", ".join("(?, ?, ?, 1, ?, 'pending', ?, ?)" for _ in users)
        values = [v for user in users for v in (deal_id, round_row["id"], user, PRICE, now, now)]
        await db.execute(
            "INSERT INTO orders (deal_id, round_id, user_id, quantity, unit_price, status,"
            f" created_at, updated_at) VALUES {marks}",
            values,
        )
        await db.execute("UPDATE deals SET taken = ? WHERE id = ?", (len(users), deal_id))
        if tipped:
            await db.execute("UPDATE rounds SET tipped_at = ? WHERE id = ?", (now, round_row["id"]))


async def _formed_today(store: Store, layout: Layout, n: int, leader: Member, first: int) -> None:
    """A deal of group n that formed this morning: the summary has something to say."""
    deal = await store.deals.create_deal(
        chat_id=layout.chat(n),
        leader=leader,
        form=form(f"Morning {n}", deadline=BASE + 3600, min_members=3, mode=Mode.ROUNDS),
        photo_file_id=None,
        currency="CNY",
        now=BASE - 7200,
    )
    users = [layout.member(first + i) for i in range(3)]
    await _orders(store, deal.id, users, BASE - 7200, tipped=False)
    closed = await store.rounds.close_deal(deal.id, BASE - 3600, None)
    assert closed is not None and len(closed.lines) == 3


def day_of(moment: int) -> str:
    """The UTC day of a Unix time (the summary groups' time zone)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=moment)).date().isoformat()
