"""A formed round's messages across a kill: the closing transaction leases them to its
worker, each message is noted as it goes, and the sweep takes over a round whose lease
ran out and sends only what was not noted (storage/repos/notices.py, migration 0017).
A kill is played by closing the round in the store without the notifier; the clock is
moved past the lease, never waited on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.core.models import ClosedRound
from storage import engines
from storage.repos.notices import NOTICE_LEASE
from storage.store import Store
from tests.conftest import (
    GROUP_ID,
    STORE_CHAT,
    STORE_NOW,
    STORES,
    World,
    store_before,
)
from tests.test_store import member, new_deal

LYCHEE = "Lychee\nprice: 8\nmin: 2\ndeadline: 3h\nmode: 接龙"
ANNOUNCED = "the deal is confirmed with 3 members"
CONFIRMED = "Your order is confirmed"


def sent(world: World) -> list[tuple[int, str]]:
    """Every message that reached "Telegram", in order: (chat, visible text)."""
    return [
        (int(r.params["chat_id"]), world.visible(r.params))
        for r in world.api.requests
        if r.method == "sendMessage" and r.ok
    ]


def count(world: World, chat_id: int, words: str) -> int:
    return sum(1 for chat, text in sent(world) if chat == chat_id and words in text)


async def killed_after_closing(world: World) -> tuple[ClosedRound, list[int]]:
    """A tipping deal with Ann, Bo and Cy in it, closed in the store as a worker killed
    right after its closing transaction leaves it: nothing of it sent. The members' ids."""
    card = await world.leader.posts(LYCHEE)
    people = [world.member(name) for name in ("Ann", "Bo", "Cy")]
    for person in people:
        await person.taps("Join", card)
    await world.settle()
    [(deal_id,)] = await world.rows("SELECT MAX(id) FROM deals")
    closed = await world.service.store.rounds.close_deal(
        int(deal_id), world.clock.timestamp(), None
    )
    assert closed is not None and len(closed.lines) == 3
    assert count(world, GROUP_ID, ANNOUNCED) == 0
    return closed, [person.id for person in people]


def announced_before_confirmations(world: World, members: list[int]) -> bool:
    messages = sent(world)
    first = min(
        n for n, (chat, text) in enumerate(messages) if chat in members and CONFIRMED in text
    )
    return any(chat == GROUP_ID and ANNOUNCED in text for chat, text in messages[:first])


async def test_a_round_closed_by_a_killed_worker_is_sent_once_after_its_lease(
    world: World,
) -> None:
    _, members = await killed_after_closing(world)

    await world.pass_time(NOTICE_LEASE - 10)  # the closer's lease still holds
    assert count(world, GROUP_ID, ANNOUNCED) == 0

    await world.pass_time(11)
    assert count(world, GROUP_ID, ANNOUNCED) == 1
    assert [count(world, uid, CONFIRMED) for uid in members] == [1, 1, 1]
    assert announced_before_confirmations(world, members)
    assert await world.rows("SELECT notice_lease_until FROM rounds WHERE status = 'formed'") == [
        (None,)
    ]

    await world.pass_time(NOTICE_LEASE + 1)  # a second sweep: nothing is owed any more
    assert count(world, GROUP_ID, ANNOUNCED) == 1
    assert [count(world, uid, CONFIRMED) for uid in members] == [1, 1, 1]


async def test_a_half_sent_round_gets_only_the_rest(world: World) -> None:
    closed, members = await killed_after_closing(world)
    now = world.clock.timestamp()
    notices = world.service.store.notices
    await notices.note_announced(closed.round.id, now, now + NOTICE_LEASE)
    first = closed.lines[0].order_id
    assert first is not None and closed.lines[0].member.user_id == members[0]
    await notices.note_confirmed(first, now, now + NOTICE_LEASE)

    await world.pass_time(NOTICE_LEASE + 1)

    assert count(world, GROUP_ID, ANNOUNCED) == 0
    assert [count(world, uid, CONFIRMED) for uid in members] == [0, 1, 1]


async def test_two_sweeps_at_once_send_each_message_once(world: World) -> None:
    _, members = await killed_after_closing(world)

    world.clock.advance(NOTICE_LEASE + 1)  # its resync sweeps too: three sweeps at once
    await asyncio.gather(world.service.send_owed_notices(), world.service.send_owed_notices())
    await world.service.deadlines.settled()
    await world.settle()

    assert count(world, GROUP_ID, ANNOUNCED) == 1
    assert [count(world, uid, CONFIRMED) for uid in members] == [1, 1, 1]


async def test_a_round_sent_by_its_closer_owes_nothing(world: World) -> None:
    card = await world.leader.posts(LYCHEE)
    members = [world.member(name) for name in ("Ann", "Bo", "Cy")]
    for person in members:
        await person.taps("Join", card)
    await world.pass_time(3 * 3600 + 1)

    assert count(world, GROUP_ID, ANNOUNCED) == 1
    [(announced, lease)] = await world.rows(
        "SELECT announced_at, notice_lease_until FROM rounds WHERE status = 'formed'"
    )
    assert announced is not None and lease is None
    assert await world.rows("SELECT COUNT(*) FROM orders WHERE confirm_sent_at IS NULL") == [(0,)]
    await world.pass_time(NOTICE_LEASE + 1)
    assert count(world, GROUP_ID, ANNOUNCED) == 1
    assert [count(world, p.id, CONFIRMED) for p in members] == [1, 1, 1]


async def _closed_in_store(store: Store) -> ClosedRound:
    """A round of two formed by the second join, in the store only (nothing sent)."""
    deal_id = await new_deal(store, min_members=2)
    await store.rounds.join_round(deal_id, member(1), STORE_NOW)
    outcome = await store.rounds.join_round(deal_id, member(2), STORE_NOW + 1)
    assert outcome.closed is not None
    return outcome.closed


async def test_only_one_of_two_workers_takes_a_lapsed_round_over(store: Store) -> None:
    closed = await _closed_in_store(store)
    notices = store.notices
    later = STORE_NOW + 1 + NOTICE_LEASE

    assert await notices.take_over(later - 1, later + NOTICE_LEASE) == []  # still leased
    takes = await asyncio.gather(
        notices.take_over(later, later + NOTICE_LEASE),
        notices.take_over(later, later + NOTICE_LEASE),
    )
    assert sorted(len(t) for t in takes) == [0, 1]
    [owed] = [t[0] for t in takes if t]
    assert owed.announce and owed.closed.round.id == closed.round.id
    assert [line.order_id for line in owed.confirm] == [line.order_id for line in closed.lines]
    assert owed.closed.lines == closed.lines

    # The taker holds it now: nobody else may take it until that lease runs out too.
    assert await notices.take_over(later + 10, later + 10 + NOTICE_LEASE) == []
    [again] = await notices.take_over(later + NOTICE_LEASE, later + 2 * NOTICE_LEASE)
    assert again.announce

    await notices.finish(closed.round.id, later)
    assert await notices.take_over(later + 9 * NOTICE_LEASE, later + 10 * NOTICE_LEASE) == []


@pytest.mark.parametrize("engine", STORES)
async def test_migration_17_marks_what_was_there_as_sent(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with store_before(16, engine, tmp_path, monkeypatch) as store:
        # Written as release 16 wrote it (today's repositories write newer columns).
        async with store.engine.transaction() as db:
            await db.execute(
                "INSERT INTO groups (chat_id, title, lang, tz, currency, created_at)"
                " VALUES (?, 'Group', 'en', 'UTC', 'CNY', ?)",
                (STORE_CHAT, STORE_NOW),
            )
            deal_id = await db.insert(
                "INSERT INTO deals (chat_id, leader_id, title, price, currency, min_members,"
                " deadline, mode, created_at) VALUES (?, 1, 'Mangoes', 1250, 'CNY', 3, ?,"
                " 'rounds', ?)",
                (STORE_CHAT, STORE_NOW + 7200, STORE_NOW),
            )
            # Round 1 formed with M1 and M2 (its messages went out before the upgrade);
            # round 2 is open, with M3 in it.
            for number, status, closed in ((1, "formed", STORE_NOW + 10), (2, "open", None)):
                await db.execute(
                    "INSERT INTO rounds (deal_id, number, status, opened_at, closed_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (deal_id, number, status, STORE_NOW, closed),
                )
            for n, number, status in ((1, 1, "confirmed"), (2, 1, "confirmed"), (3, 2, "pending")):
                await db.execute(
                    "INSERT INTO members (user_id, first_name, updated_at) VALUES (?, ?, ?)",
                    (1000 + n, f"M{n}", STORE_NOW),
                )
                await db.execute(
                    "INSERT INTO orders (deal_id, round_id, user_id, quantity, unit_price,"
                    " status, created_at, updated_at) VALUES (?, (SELECT id FROM rounds WHERE"
                    " deal_id = ? AND number = ?), ?, 1, 1250, ?, ?, ?)",
                    (deal_id, deal_id, number, 1000 + n, status, STORE_NOW, STORE_NOW),
                )

        assert await store.migrate() == engines.migration_files(store.engine.dialect)[-1][0]

        rounds = await store.engine.reader.all(
            "SELECT number, announced_at, notice_lease_until FROM rounds WHERE deal_id = ?"
            " ORDER BY number",
            deal_id,
        )
        assert [tuple(row) for row in rounds] == [(1, STORE_NOW + 10, None), (2, None, None)]
        orders = await store.engine.reader.all(
            "SELECT user_id, confirm_sent_at IS NOT NULL AS noted FROM orders ORDER BY user_id"
        )
        assert [(int(r[0]), bool(r[1])) for r in orders] == [
            (1001, True),
            (1002, True),
            (1003, False),
        ]
        # Nothing old is owed: a sweep long after takes nothing over.
        assert await store.notices.take_over(STORE_NOW + 10**6, STORE_NOW + 10**6 + 90) == []
