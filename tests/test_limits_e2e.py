"""Budgets: one member repeating a command cannot use up the group's messages, nor cost
a leader check per message; the budget comes back with time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import GROUP_ID, STORES, World, running_world
from tests.fakeapi import FakeBotAPI

MANGOES = """Alphonso mangoes, 5 kg box
price: 12.50
min: 3
deadline: 2h
stock: 10"""

# The shipped defaults: 5 commands per member per 30 s, 10 per group per minute.
REAL_LIMITS = {
    "member_commands": 5,
    "group_commands": 10,
    "private_commands": 20,
    "taps_per_second": 10,
}
MEMBER_BUDGET = 5
GROUP_BUDGET = 10


@pytest.fixture(params=STORES)
async def limited(
    request: pytest.FixtureRequest, api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[World]:
    async with running_world(api, tmp_path, request.param, limits=REAL_LIMITS) as running:
        yield running


def group_sends(world: World, since: int = 0) -> int:
    """How many messages the bot has sent to the group (less `since`)."""
    sends = world.api.calls("sendMessage")
    return sum(str(r.params.get("chat_id")) == str(GROUP_ID) for r in sends) - since


async def all_sent(world: World, expected: int, since: int) -> int:
    """Wait for `expected` group messages, then a while for any more; how many came."""
    await world.api.wait_until(lambda: group_sends(world, since) >= expected)
    await asyncio.sleep(0.5)  # a handler still under way would send within this
    await world.settle()
    return group_sends(world, since)


def quiet_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "over budget" in r.getMessage()]


async def test_a_member_repeating_a_command_cannot_use_up_the_groups_messages(
    limited: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.limits")
    ann, bob = limited.member("Ann"), limited.member("Bob")
    before = group_sends(limited)
    for _ in range(30):
        ann.says("/deals")
    # Bob comes after all of Ann's messages, and is answered all the same.
    assert "deal" in (await bob.says_and_hears("/deals")).lower()
    assert await all_sent(limited, MEMBER_BUDGET + 1, before) == MEMBER_BUDGET + 1
    assert len(quiet_lines(caplog)) == 1
    # Ann is told once, privately, why the bot went quiet.
    assert len(ann.private_texts()) == 1
    assert "commands" in ann.private_texts()[0]


async def test_the_budget_comes_back_after_the_window(limited: World) -> None:
    ann, bob = limited.member("Ann"), limited.member("Bob")
    before = group_sends(limited)
    for _ in range(MEMBER_BUDGET + 3):
        ann.says("/deals")
    await bob.says_and_hears("/deals")
    assert await all_sent(limited, MEMBER_BUDGET + 1, before) == MEMBER_BUDGET + 1
    await limited.pass_time(30)
    assert "deal" in (await ann.says_and_hears("/deals")).lower()


async def test_a_leader_check_is_not_made_for_every_throttled_message(limited: World) -> None:
    ann, bob = limited.member("Ann"), limited.member("Bob")
    for _ in range(30):
        ann.says("/help")
    await bob.says_and_hears("/help")
    await all_sent(limited, MEMBER_BUDGET + 1, 0)
    checks = [
        r
        for r in limited.api.calls("getChatMember")
        if r.params.get("user_id") in (ann.id, str(ann.id))
    ]
    assert len(checks) <= MEMBER_BUDGET


async def test_other_members_are_still_answered_while_one_is_throttled(limited: World) -> None:
    ann, bob, cid = limited.member("Ann"), limited.member("Bob"), limited.member("Cid")
    for _ in range(20):
        ann.says("/orders")
    assert await bob.says_and_hears("/deals")
    assert await cid.says_and_hears("/help")


async def test_a_busy_group_answers_at_most_its_budget_of_commands(limited: World) -> None:
    members = [limited.member() for _ in range(4)]
    before = group_sends(limited)
    for member in members:
        for _ in range(MEMBER_BUDGET):
            member.says("/deals")
    assert await all_sent(limited, GROUP_BUDGET, before) == GROUP_BUDGET
    # In a private chat the member is answered all the same.
    assert await members[-1].says_and_hears("/deals", chat_id=members[-1].id)


async def test_a_member_hammering_a_button_is_asked_to_slow_down(limited: World) -> None:
    card = await limited.leader.posts(MANGOES)
    ann = limited.member("Ann")
    data = limited.button(GROUP_ID, card, "Join")
    queries = [limited.api.tap(GROUP_ID, ann.id, card, data) for _ in range(25)]
    answers = [str((await limited.api.wait_answer(q)).get("text", "")) for q in queries]
    assert any("slow down" in answer.lower() for answer in answers)
    # Other members' taps go through.
    bob = limited.member("Bob")
    assert "slow down" not in (await bob.taps("Join", card)).lower()
