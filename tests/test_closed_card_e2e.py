"""The closed card keeps the final list (接龙): who is on it, the totals, sold out, and a
round that failed; in privacy mode the counts only; trimmed within Telegram's limits."""

from __future__ import annotations

import asyncio

from tests.conftest import GROUP_ID, Person, World
from tests.fakeapi import CAPTION_LIMIT, TEXT_LIMIT, utf16_len


async def joins(world: World, card: int, *people: tuple[Person, int]) -> None:
    """Each person taps Join, as many times as given, one after the other."""
    for person, times in people:
        for _ in range(times):
            answer = await person.taps("Join", card)
            assert answer.startswith("You're in"), answer


async def test_a_sold_out_card_keeps_the_list_and_loses_its_buttons(world: World) -> None:
    card = await world.leader.posts(
        "Lychee\nprice: 8\nmin: 2\ndeadline: 3h\nstock: 4\nlimit: 2\nmode: tipping"
    )
    ann, bo, cy, di = (world.member(n) for n in ("Ann", "Bo", "Cy", "Di"))
    await joins(world, card, (ann, 2), (bo, 1), (cy, 1))
    assert await di.taps("Join", card) == "Sold out."
    await world.settle()

    text = world.card(card)
    assert "Closed — 1 round formed · 3 members · 4 units" in text
    assert "Sold out — 4 of 4" in text
    assert "1. Ann × 2\n2. Bo × 1\n3. Cy × 1" in text
    assert "Di" not in text
    assert world.labels(card) == [], "no Join, no Notify me: nothing can be freed any more"


async def test_after_the_deadline_the_card_lists_the_formed_round_and_counts_the_failed_one(
    world: World,
) -> None:
    card = await world.leader.posts("Figs\nprice: 5\nmin: 3\ndeadline: 2h\nstock: 5")
    ann, bo, cy, di, ed = (world.member(n) for n in ("Ann", "Bo", "Cy", "Di", "Ed"))
    await joins(world, card, (ann, 1), (bo, 1), (cy, 1), (di, 1), (ed, 1))
    await world.settle()
    # Sold out with round 2 still open: units may be freed, so "Notify me" stays.
    assert any("Notify me" in label for label in world.labels(card))

    await world.pass_time(2 * 3600 + 5)

    text = world.card(card)
    assert "Closed — 1 round formed · 3 members · 3 units" in text
    assert "Round 2 did not form: 2 of 3 joined; its orders were cancelled." in text
    assert "1. Ann × 1\n2. Bo × 1\n3. Cy × 1" in text
    assert "Di" not in text and "Ed" not in text
    assert "Sold out" not in text, "round 2's units came back"
    assert world.labels(card) == []


async def test_a_deal_nobody_formed_says_how_many_joined_of_how_many_needed(
    world: World,
) -> None:
    card = await world.leader.posts("Kiwi\nprice: 3\nmin: 3\ndeadline: 1h\nmode: tipping")
    ann, bo = world.member("Ann"), world.member("Bo")
    await joins(world, card, (ann, 1), (bo, 1))
    await bo.taps("Leave", card)  # who left is not counted as joined

    await world.pass_time(3600 + 5)

    text = world.card(card)
    assert "Closed — not enough people joined (1 of 3); the orders were cancelled." in text
    assert "Ann" not in text
    assert world.labels(card) == []


async def test_rounds_mode_totals_and_each_round_listed(world: World) -> None:
    card = await world.leader.posts("Eggs\nprice: 2\nmin: 2\ndeadline: 1d\nlimit: 3")
    ann, bo, cy, di = (world.member(n) for n in ("Ann", "Bo", "Cy", "Di"))
    await joins(world, card, (ann, 1), (bo, 1))  # round 1 forms
    await joins(world, card, (cy, 1), (di, 1))  # round 2 forms
    await joins(world, card, (bo, 2))  # round 3: Bo alone
    await world.settle()

    world.leader.says("/close 1 confirm")  # the leader confirms round 3 below min
    await world.api.wait_until(lambda: "Closed" in world.card(card))
    await world.settle()

    text = world.card(card)
    assert "Closed — 3 rounds formed · 4 members · 6 units" in text
    assert "Round 1 · 2 members · 2 units\n1. Ann × 1\n2. Bo × 1\n" in text
    assert "Round 2 · 2 members · 2 units\n1. Cy × 1\n2. Di × 1\n" in text
    assert text.endswith("Round 3 · 1 member · 2 units\n1. Bo × 2")


async def test_privacy_mode_shows_counts_not_names(world: World) -> None:
    assert "Saved" in await world.leader.says_and_hears("/settings privacy counts")
    card = await world.leader.posts("Eggs\nprice: 2\nmin: 2\ndeadline: 1d")
    ann, bo, cy, di, ed = (world.member(n) for n in ("Ann", "Bo", "Cy", "Di", "Ed"))
    await joins(world, card, (ann, 1), (bo, 1), (cy, 2), (di, 1), (ed, 1))

    await world.pass_time(86400 + 5)

    text = world.card(card)
    assert "Closed — 2 rounds formed · 4 members · 5 units" in text
    assert "Round 1: 2 members · 2 units\nRound 2: 2 members · 3 units" in text
    assert "Round 3 did not form: 1 of 2 joined" in text
    for name in ("Ann", "Bo", "Cy", "Di", "Ed"):
        assert name not in text


async def test_the_closed_card_in_chinese(world: World) -> None:
    assert "已保存" in await world.leader.says_and_hears("/settings lang zh")
    card = await world.leader.posts(
        "鸡蛋\n价格: 2\n成团: 2\n截止: 1d\n库存: 5\n选项: 大盒 3 x3; 小盒 2 x2"
    )
    ann, bo, cy = (world.member(n, lang="zh") for n in ("Ann", "Bo", "Cy"))
    await ann.taps("大盒", card)
    await bo.taps("小盒", card)  # round 1 forms
    await cy.taps("大盒", card)
    await cy.taps("小盒", card)
    await ann.taps("大盒", card)  # round 2 forms, and the last unit is gone: the deal closes
    await world.settle()

    text = world.card(card)
    assert "已结束 — 共 2 团成团 · 3 人 · 5 份" in text
    assert "已售罄 — 5 / 5" in text
    assert "• 大盒：3 份\n• 小盒：2 份" in text
    assert "第 1 团 · 2 人 · 2 份\n1. Ann × 1（大盒）\n2. Bo × 1（小盒）\n" in text
    assert text.endswith(
        "第 2 团 · 2 人 · 3 份\n1. Cy × 1（大盒）\n2. Cy × 1（小盒）\n3. Ann × 1（大盒）"
    )
    assert world.labels(card) == []


def long_name(n: int) -> str:
    return f"Member {n} of the very long-named mango appreciation society"


async def everyone_joins(world: World, card: int, count: int) -> list[Person]:
    people = [world.member(long_name(n)) for n in range(1, count + 1)]
    answers = await asyncio.gather(*(p.taps("Join", card) for p in people))
    assert all(a.startswith("You're in") for a in answers), set(answers)
    return people


async def test_a_long_list_in_a_photo_caption_is_trimmed_to_fit(world: World) -> None:
    form = "Mangoes\nprice: 9\nmin: 2\ndeadline: 2h\nmode: tipping"
    since = len(world.api.requests)
    world.api.send_photo(GROUP_ID, world.leader.id, caption=f"/deal {form}")
    await world.api.wait_for("sendPhoto", since=since)
    card = world.api.bot_messages(GROUP_ID)[-1]["message_id"]
    await everyone_joins(world, card, 40)

    await world.pass_time(2 * 3600 + 5)

    caption = world.card(card)
    assert "Closed — 1 round formed · 40 members · 40 units" in caption
    assert utf16_len(caption) <= CAPTION_LIMIT
    listed = [line for line in caption.splitlines() if long_name(1)[:6] in line]
    assert listed[0].startswith("1. Member ") and listed[0].endswith(" × 1")
    assert 5 < len(listed) < 40
    assert caption.endswith(f"… and {40 - len(listed)} more")


async def test_a_long_list_in_a_text_card_is_trimmed_to_fit(world: World) -> None:
    card = await world.leader.posts("Mangoes\nprice: 9\nmin: 2\ndeadline: 2h\nmode: tipping")
    await everyone_joins(world, card, 120)

    await world.pass_time(2 * 3600 + 5)

    text = world.card(card)
    assert "Closed — 1 round formed · 120 members · 120 units" in text
    assert utf16_len(text) <= TEXT_LIMIT
    listed = [line for line in text.splitlines() if " of the very long-named " in line]
    assert 40 < len(listed) < 120
    assert text.endswith(f"… and {120 - len(listed)} more")
