"""The store's part in timed sales and in posting again: the upgrade that adds a deal's
start, its opening recorded once, a join refused before the start, and the past deals."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core import rounds
from bot.core.errors import UserError
from bot.core.forms import DealForm, OptionForm
from bot.core.models import DealStatus, Member
from storage.engines import SqliteEngine, migration_files
from storage.store import Store
from tests.conftest import STORE_CHAT, STORE_NOW

LEADER = Member(user_id=1, first_name="Lena")
ANN = Member(user_id=2, first_name="Ann")


async def new_deal(store: Store, now: int = STORE_NOW, **kw: object) -> int:
    values: dict[str, object] = {
        "title": "Mangoes",
        "price": 1250,
        "min_members": 2,
        "deadline": datetime.fromtimestamp(now, UTC) + timedelta(hours=2),
    }
    values.update(kw)
    deal = await store.deals.create_deal(
        chat_id=STORE_CHAT,
        leader=LEADER,
        form=DealForm(**values),  # type: ignore[arg-type]
        photo_file_id=None,
        currency="CNY",
        now=now,
    )
    return deal.id


async def test_deals_from_before_the_upgrade_open_at_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for number, _, sql in migration_files("sqlite"):
            if number <= 8:
                conn.executescript(sql)
        conn.execute("PRAGMA user_version = 8")
        conn.execute("INSERT INTO groups (chat_id, title, created_at) VALUES (-5, 'G', 1)")
        conn.execute(
            "INSERT INTO deals (chat_id, leader_id, title, price, currency, min_members,"
            " deadline, mode, created_at)"
            " VALUES (-5, 1, 'Old mangoes', 100, 'CNY', 1, ?, 'rounds', 1)",
            (STORE_NOW + 3600,),
        )
        conn.execute("INSERT INTO rounds (deal_id, number, opened_at) VALUES (1, 1, 1)")
    store = Store(SqliteEngine(path))
    await store.open()
    try:
        deal = await store.deals.get_deal(1)
        assert deal is not None and deal.title == "Old mangoes"
        assert (deal.starts_at, deal.opened_at) == (None, None)
        assert not deal.opens_later(STORE_NOW)
        joined = await store.rounds.join_round(1, ANN, STORE_NOW)
        assert joined.quantity == 1
        assert not await store.deals.mark_opened(1, STORE_NOW), "nothing to announce"
    finally:
        await store.close()


async def test_a_join_before_the_start_is_refused_and_the_opening_is_recorded_once(
    store: Store,
) -> None:
    start = datetime.fromtimestamp(STORE_NOW, UTC) + timedelta(minutes=30)
    deal_id = await new_deal(store, start=start, deadline=start + timedelta(hours=2))
    starts = int(start.timestamp())
    deal = await store.deals.get_deal(deal_id)
    assert deal is not None and deal.starts_at == starts and deal.opens_from == starts

    with pytest.raises(UserError) as refused:
        await store.rounds.join_round(deal_id, ANN, starts - 1)
    assert (refused.value.template, refused.value.context["left"]) == ("tap_not_started", 1)
    assert not await store.deals.mark_opened(deal_id, starts - 1), "not due yet"

    assert await store.deals.mark_opened(deal_id, starts)
    assert not await store.deals.mark_opened(deal_id, starts + 5), "announced once"
    assert (await store.rounds.join_round(deal_id, ANN, starts)).quantity == 1
    deal = await store.deals.get_deal(deal_id)
    assert deal is not None and deal.opened_at == starts


async def test_past_deals_are_the_groups_newest_first(store: Store) -> None:
    ids = [await new_deal(store, now=STORE_NOW + n, title=f"Deal {n}") for n in range(5)]
    await store.rounds.cancel_deal(ids[1], STORE_NOW + 10)
    await store.groups.ensure_group(-200, "Other", tz="UTC", currency="CNY", lang="en", now=1)
    await store.deals.create_deal(
        chat_id=-200,
        leader=LEADER,
        form=DealForm("Theirs", 100, 1, datetime.fromtimestamp(STORE_NOW, UTC)),
        photo_file_id=None,
        currency="CNY",
        now=STORE_NOW + 100,
    )
    past = await store.deals.past_deals(STORE_CHAT, 3)
    assert [deal.id for deal in past] == ids[:-4:-1]
    everything = await store.deals.past_deals(STORE_CHAT, 20)
    assert [deal.status for deal in everything][3] is DealStatus.CANCELLED
    assert "Theirs" not in [deal.title for deal in everything]


async def test_what_a_deal_was_made_of(store: Store) -> None:
    await store.groups.set_pickup_points(STORE_CHAT, ["Clubhouse", "North gate", "South gate"])
    options = (OptionForm("small", 800, 5), OptionForm("big", 1500))
    named = await new_deal(store, options=options, pickups=("South gate", "Clubhouse"))
    plain = await new_deal(store)
    found, pickups = await store.deals.deal_makings(named)
    assert [(o.name, o.price, o.stock) for o in found] == [("small", 800, 5), ("big", 1500, None)]
    assert pickups == ["Clubhouse", "South gate"]
    assert await store.deals.deal_makings(plain) == ([], [])


def test_a_join_check_names_the_time_left_before_the_start() -> None:
    rule = {"status": DealStatus.OPEN, "deadline": 500, "held": 0, "limit": None}
    with pytest.raises(UserError) as refused:
        rounds.check_join(now=100, starts_at=160, stock=None, taken=0, **rule)  # type: ignore[arg-type]
    assert refused.value.context == {"starts_at": 160, "left": 60}
    rounds.check_join(now=160, starts_at=160, stock=None, taken=0, **rule)  # type: ignore[arg-type]
    with pytest.raises(UserError) as ended:  # an ended deal says so, not "not yet"
        rounds.check_join(
            now=100, starts_at=160, stock=None, taken=0, **{**rule, "status": DealStatus.CLOSED}
        )  # type: ignore[arg-type]
    assert ended.value.template == "tap_closed"
