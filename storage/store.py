"""The store: one engine, its lifecycle, and a repository for each area of the product."""

from __future__ import annotations

from pathlib import Path

from storage.engines import PostgresEngine, SqliteEngine
from storage.repos.deals import DealsRepo
from storage.repos.deliveries import DeliveriesRepo
from storage.repos.groups import GroupsRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.notices import NoticesRepo
from storage.repos.orders import OrdersRepo
from storage.repos.paywindow import PayWindowRepo
from storage.repos.reports import ReportsRepo
from storage.repos.rounds import RoundsRepo
from storage.repos.shared import SharedRepo
from storage.repos.spread import SpreadRepo
from storage.repos.waitlist import WaitlistRepo


class Store:
    """Every read and write of the product, in domain words, on one engine.

    Each area has its repository, all on this engine: `groups` (settings, members,
    leaders, pickup points), `deals` (deals, options, cards), `rounds` (joining,
    leaving, closing, cancelling), `orders` (marks, payment claims), `waitlist`,
    `ledger` (referrals, rewards, payouts, invites), `deliveries` (each update and tap
    once), `reports` (the daily summary), `paywindow` (unpaid orders reminded and
    released), `spread` (a deal shown in further groups, helper leaders) and `shared`
    (deal cards shared into other chats). A write that spans areas is still one
    transaction: the repository that owns it calls the others' steps inside it.
    """

    def __init__(self, engine: SqliteEngine | PostgresEngine) -> None:
        self.engine = engine
        self.groups = GroupsRepo(engine)
        self.deals = DealsRepo(engine, self.groups)
        self.orders = OrdersRepo(engine)
        self.waitlist = WaitlistRepo(engine)
        self.ledger = LedgerRepo(engine)
        self.deliveries = DeliveriesRepo(engine, self.groups)
        self.reports = ReportsRepo(engine)
        self.rounds = RoundsRepo(
            engine,
            groups=self.groups,
            waitlist=self.waitlist,
            ledger=self.ledger,
            deliveries=self.deliveries,
        )
        self.paywindow = PayWindowRepo(engine, waitlist=self.waitlist, ledger=self.ledger)
        self.notices = NoticesRepo(engine)
        self.spread = SpreadRepo(engine)
        self.shared = SharedRepo(engine)

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
