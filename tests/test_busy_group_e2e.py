"""Replies in a busy group: at Telegram's real pace (20 messages a minute in a group, card
edits included, a card redrawn at most every 3 s), a reply to a person's command goes
before card edits and announcements, and before the private confirmations waiting for
the overall 30 a second: /deals is answered within 1 s in a quiet group, and within 4 s
while a burst of taps is being coalesced on a card in the same group.

The issue asks for these bounds in the end-to-end suite; the measured times are printed
(`pytest -s`) and stay far below them (tens of milliseconds on a loaded 2-core machine),
since a reply waits for nothing but the group's window of 20 sends, of which cards and
announcements leave 5 a minute free."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import GROUP_ID, STORES, Person, World, running_world
from tests.fakeapi import FakeBotAPI

REAL_PACE = {"group_messages_per_minute": 20, "card_edit_interval": 3.0}
QUIET_BOUND = 1.0
BUSY_BOUND = 4.0


@pytest.fixture(params=STORES)
async def paced_world(
    request: pytest.FixtureRequest, api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[World]:
    """The bot at Telegram's real pace, against a fake that refuses (429) the 21st message
    within a minute in a group, as Telegram does."""
    api.limit_per_group_per_minute = 20
    async with running_world(api, tmp_path, request.param, **REAL_PACE) as world:
        yield world


async def deals_answered_in(world: World, asker: Person) -> float:
    """Seconds from sending /deals in the group to the bot's reply arriving there."""
    since = len(world.api.requests)
    started = time.monotonic()
    asker.says("/deals")
    await world.api.wait_for(
        "sendMessage",
        timeout=10,
        since=since,
        where=lambda r: (
            r.params.get("chat_id") == GROUP_ID and "Open deals" in str(r.params.get("text"))
        ),
    )
    return time.monotonic() - started


def refused(world: World) -> list[str]:
    """Requests the fake refused for flooding."""
    return [r.method for r in world.api.requests if r.status == 429]


async def test_a_reply_in_a_quiet_group_comes_within_a_second(paced_world: World) -> None:
    world = paced_world
    await world.leader.posts("Mangoes\nprice: 12.50\nmin: 5\ndeadline: 1d")
    asker = world.member("Ann")

    right_after_the_card = await deals_answered_in(world, asker)
    await asyncio.sleep(0.5)
    quiet = await deals_answered_in(world, asker)

    print(f"\n/deals, quiet group: {right_after_the_card:.3f} s after a card, then {quiet:.3f} s")
    assert right_after_the_card < QUIET_BOUND, "the group's pace does not hold a reply back"
    assert quiet < QUIET_BOUND
    assert refused(world) == []


async def test_a_reply_comes_within_four_seconds_during_a_burst_of_taps(
    paced_world: World,
) -> None:
    world = paced_world
    card = await world.leader.posts("Mangoes\nprice: 12.50\nmin: 5\ndeadline: 1d")
    members = [world.member() for _ in range(200)]
    asker = world.member("Ann")
    join = world.button(GROUP_ID, card, "Join")
    queries: list[str] = []

    async def burst() -> None:
        """200 members tap Join within about two seconds."""
        for member in members:
            queries.append(world.api.tap(GROUP_ID, member.id, card, join))
            await asyncio.sleep(0.01)

    tapping = asyncio.create_task(burst())
    await world.api.wait_until(
        lambda: len(queries) >= 50 and world.api.calls("editMessageText"), timeout=10
    )
    times = [await deals_answered_in(world, asker)]  # a card edit just took the group's turn
    await asyncio.sleep(0.5)
    times.append(await deals_answered_in(world, asker))  # taps still coming, rounds forming
    await tapping
    times.append(await deals_answered_in(world, asker))  # announcements and confirmations wait
    for query in queries:
        await world.api.wait_answer(query, timeout=30)
    await world.settle()

    print("\n/deals during a burst of 200 taps: " + ", ".join(f"{t:.3f} s" for t in times))
    assert max(times) < BUSY_BOUND
    assert refused(world) == [], "within Telegram's 20 a minute all the same"
    edits = len(world.api.calls("editMessageText"))
    assert 1 <= edits < 20, f"{edits} edits: the burst is coalesced on the card"
    assert "Rounds formed: 40" in world.card(card), "the card ends showing the final state"
    assert len(await world.rows("SELECT id FROM orders WHERE status = 'confirmed'")) == 200
