"""Sharing a deal's card into any chat (inline mode) end to end: the Share button's query,
what `@bot` lists, copies joined where the bot is not, kept current, retired past the cap,
and the sharer's referrals."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import GROUP_ID, STORES, Person, World, running_world
from tests.fakeapi import FakeBotAPI

DEAL = "Mangoes\nprice: 12.50\nmin: 2\ndeadline: 1d\nstock: 5"
FRIENDS = -1009990001  # a group the bot is not in
FAMILY = -1009990002  # another one
OTHER_GROUP = -1005550001  # a group the bot serves, with a deal of its own


async def eventually(check: object, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until an async check (a callable returning an awaitable bool) holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def lists(world: World, person: Person, query: str, offset: str = "") -> dict[str, object]:
    """What `@bot query` shows the person: the bot's answer to the inline query."""
    query_id = world.api.inline_query(person.id, query, offset)
    answer = await world.api.wait_inline_answer(query_id)
    return {"query": query_id} | answer


def deals_in(answer: dict[str, object]) -> list[str]:
    return [str(result["id"]) for result in answer["results"]]  # type: ignore[attr-defined]


async def shares(world: World, person: Person, card: int, chat_id: int = FRIENDS) -> str:
    """The person taps Share on the group card, picks the deal and sends it into `chat_id`;
    the copy's inline_message_id (once the bot knows of it, when feedback is on)."""
    payload = world.button(GROUP_ID, card, "Share")
    answer = await lists(world, person, payload)
    assert deals_in(answer) == ["deal:1"]
    _, inline_id = world.api.choose_inline_result(
        person.id, str(answer["query"]), "deal:1", chat_id
    )
    assert inline_id is not None
    if world.api.inline_feedback:
        await eventually(lambda: copies(world, inline_id))
    return inline_id


async def copies(world: World, inline_id: str) -> list[tuple[object, ...]]:
    return await world.rows(
        "SELECT sharer_id, retired_at FROM shared_cards WHERE inline_message_id = ?", inline_id
    )


async def taps_copy(world: World, person: Person, inline_id: str, label: str) -> str:
    """Tap a button of a shared copy; the answer's text."""
    data = next(d for t, d in world.api.inline_buttons(inline_id) if label.lower() in t.lower())
    return await taps_copy_data(world, person, inline_id, str(data))


async def taps_copy_data(world: World, person: Person, inline_id: str, data: str) -> str:
    query = world.api.tap_inline(person.id, inline_id, data)
    return str((await world.api.wait_answer(query)).get("text", ""))


def state(text: str) -> str:
    """A card's text without its time-left line (two drawings a minute apart differ there)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("⏰"))


async def referrals(world: World) -> list[tuple[object, ...]]:
    return await world.rows("SELECT referee_id, referrer_id FROM referrals ORDER BY created_at")


async def test_the_share_button_lists_its_deal_and_nothing_it_should_not(world: World) -> None:
    card = await world.leader.posts(DEAL)
    other_leader = world.api.user(1501, "Oleg", username="oleg", language_code="en")
    world.api.group(OTHER_GROUP, "Plums", creator=other_leader)
    await Person(world, other_leader).posts(DEAL.replace("Mangoes", "Plums"), OTHER_GROUP)
    ann = world.member("Ann")

    payload = world.button(GROUP_ID, card, "Share")
    assert re.fullmatch(r"d1_[\w-]+", payload), "the button carries the signed deal"
    answer = await lists(world, ann, payload)
    assert answer["is_personal"] is True and int(str(answer["cache_time"])) <= 30
    [result] = answer["results"]  # type: ignore[misc]
    assert result["type"] == "article" and result["title"] == "Mangoes"
    shown = result["input_message_content"]["message_text"]
    assert "Mangoes" in shown and "Stock left: 5 of 5" in re.sub(r"<[^>]+>", "", shown)
    labels = [b["text"] for row in result["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Join" in label for label in labels) and any("Share" in label for label in labels)

    assert deals_in(await lists(world, ann, "d1")) == [], "an unsigned number opens nothing"
    assert deals_in(await lists(world, ann, "d2" + payload[2:])) == [], "nor a forged one"
    assert deals_in(await lists(world, ann, "")) == [], "Ann leads nothing and ordered nothing"
    await ann.taps("Join", card)
    assert deals_in(await lists(world, ann, "")) == ["deal:1"], "her deal, not the other group's"
    assert deals_in(await lists(world, ann, "mangoes")) == ["deal:1"]
    assert deals_in(await lists(world, world.leader, "")) == ["deal:1"]
    assert deals_in(await lists(world, Person(world, other_leader), "")) == ["deal:2"]

    await world.leader.says_and_hears("/close 1 cancel")
    assert deals_in(await lists(world, ann, payload)) == [], "an ended deal is not shared"
    assert deals_in(await lists(world, ann, "")) == []


async def test_many_open_deals_come_in_pages(world: World) -> None:
    for n in range(23):
        await world.leader.posts(f"Deal {n}\nprice: 1\nmin: 2\ndeadline: 1d")
    first = await lists(world, world.leader, "")
    assert len(deals_in(first)) == 20 and first["next_offset"] == "20"
    assert deals_in(first)[0] == "deal:23", "newest first"
    rest = await lists(world, world.leader, "", offset="20")
    assert deals_in(rest) == ["deal:3", "deal:2", "deal:1"] and not rest.get("next_offset")


async def test_a_card_shared_where_the_bot_is_not_is_joined_and_left_there(world: World) -> None:
    card = await world.leader.posts(DEAL)
    ann = world.member("Ann")
    bo = world.member("Bo", started=False)  # never talked to the bot, not in the group
    copy = await shares(world, ann, card)
    assert "Mangoes" in world.api.inline_text(copy)
    assert world.api.inline_message(copy)["via_bot"]["username"] == "groupbuy_test_bot"

    assert (await taps_copy(world, bo, copy, "Join")).startswith("You're in")
    await world.settle()
    for shown in (world.card(card), world.api.inline_text(copy)):
        assert "1. Bo × 1" in shown and "Stock left: 4 of 5" in shown
    assert state(world.card(card)) == state(world.api.inline_text(copy)), "the true state"

    assert "You left Mangoes" in await taps_copy(world, bo, copy, "Leave")
    await world.settle()
    for shown in (world.card(card), world.api.inline_text(copy)):
        assert "Bo" not in shown and "Stock left: 5 of 5" in shown

    await world.leader.says_and_hears("/close 1 cancel")
    await world.settle()
    assert "Closed" in world.api.inline_text(copy)
    assert world.api.inline_buttons(copy) == [], "an ended deal's copy has no buttons"
    assert state(world.card(card)) == state(world.api.inline_text(copy))


async def test_a_burst_split_between_the_card_and_two_copies_sells_exactly_the_stock(
    world: World,
) -> None:
    card = await world.leader.posts("Cherries\nprice: 20\nmin: 10\ndeadline: 1d\nstock: 60")
    first = await shares(world, world.member("Ann"), card, FRIENDS)
    second = await shares(world, world.member("Cy"), card, FAMILY)
    join_here = world.button(GROUP_ID, card, "Join")
    join_there = {
        copy: next(d for t, d in world.api.inline_buttons(copy) if "Join" in t)
        for copy in (first, second)
    }
    members = [world.member() for _ in range(300)]

    queries = []
    for n, member in enumerate(members):
        if n % 3 == 0:
            queries.append(world.api.tap(GROUP_ID, member.id, card, join_here))
        else:
            copy = first if n % 3 == 1 else second
            queries.append(world.api.tap_inline(member.id, copy, str(join_there[copy])))
    answers = await asyncio.gather(*(world.api.wait_answer(q, timeout=60) for q in queries))
    await world.settle()

    texts = [str(a["text"]) for a in answers]
    assert sum(t.startswith("You're in") for t in texts) == 60
    assert texts.count("Sold out.") == 240
    assert all(len(world.api.answers[q]) == 1 for q in queries), "each tap answered once"
    sold = await world.rows(
        "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE status = 'confirmed'"
    )
    assert sold == [(60,)]
    final = world.card(card)
    assert "Sold out — 60 of 60" in final
    assert world.api.inline_text(first) == final == world.api.inline_text(second)
    assert world.api.inline_buttons(first) == world.api.inline_buttons(second) == []
    for copy in (first, second):
        edits = world.api.calls("editMessageText", inline_message_id=copy)
        assert len(edits) < 40, f"a copy's edits are coalesced, got {len(edits)}"


async def test_the_sharer_earns_the_referral_and_sharing_to_oneself_counts_nothing(
    world: World,
) -> None:
    assert "Saved" in await world.leader.says_and_hears("/settings reward 10%")
    card = await world.leader.posts(DEAL)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    copy = await shares(world, ann, card)
    assert await copies(world, copy) == [(ann.id, None)]

    assert (await taps_copy(world, ann, copy, "Join")).startswith("You're in")
    assert await referrals(world) == [], "sharing to oneself brings nobody"
    assert "round 1 formed" in (await taps_copy(world, bo, copy, "Join")).lower()
    assert await referrals(world) == [(bo.id, ann.id)]
    await cy.taps("Join", card)  # round 2: in the group, nobody's referral
    await world.settle()

    rewards = await ann.says_and_hears("/rewards", chat_id=ann.id)
    assert "Mango lovers: ¥1.25" in rewards
    assert "¥1.25 — reward for order #2" in rewards


async def test_copies_beyond_the_cap_are_retired_with_a_link_to_the_card(world: World) -> None:
    world.service.shared.live_copies = 2
    card = await world.leader.posts(DEAL)
    oldest = await shares(world, world.member("Ann"), card, FRIENDS)
    middle = await shares(world, world.member("Bo"), card, FAMILY)
    newest = await shares(world, world.member("Cy"), card, -1009990003)
    await world.settle()

    assert "no longer kept current" in world.api.inline_text(oldest)
    assert world.api.inline_buttons(oldest) == [
        ("Open the current card", f"https://t.me/c/1234567890/{card}")
    ]
    assert [row[1] is not None for row in await copies(world, oldest)] == [True]
    await world.member("Di").taps("Join", card)
    await world.settle()
    for live in (middle, newest):
        assert state(world.api.inline_text(live)) == state(world.card(card))
        assert "Di" in world.api.inline_text(live)
    assert "Di" not in world.api.inline_text(oldest), "a retired copy is left alone"
    edits = [r.params["text"] for r in world.api.calls("editMessageText", inline_message_id=oldest)]
    assert sum("no longer kept current" in text for text in edits) == 1, "retired once"
    assert "no longer kept current" in edits[-1], "and left alone after"


async def test_a_forged_key_on_a_shared_copy_is_refused(world: World) -> None:
    card = await world.leader.posts(DEAL)
    copy = await shares(world, world.member("Ann"), card)
    join = next(str(d) for t, d in world.api.inline_buttons(copy) if "Join" in t)
    action, deal, key = join.rsplit(":", 2)
    bo = world.member("Bo")
    refused = "This button does not work here"
    assert refused in await taps_copy_data(world, bo, copy, f"{action}:{deal}")
    assert refused in await taps_copy_data(world, bo, copy, f"{action}:{deal}:{int(key) + 1}")
    group_join = world.button(GROUP_ID, card, "Join")  # the group card's: no key at all
    assert refused in await taps_copy_data(world, bo, copy, group_join)
    await world.settle()
    assert await world.rows("SELECT COUNT(*) FROM orders") == [(0,)]
    assert (await taps_copy_data(world, bo, copy, join)).startswith("You're in")


async def test_without_feedback_a_copy_still_works_and_is_kept_current(world: World) -> None:
    world.api.inline_feedback = False
    card = await world.leader.posts(DEAL.replace("min: 2", "min: 3"))
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    copy = await shares(world, ann, card)
    assert await copies(world, copy) == [], "the bot has not heard of the copy yet"

    assert (await taps_copy(world, bo, copy, "Join")).startswith("You're in")
    assert await copies(world, copy) == [(None, None)], "known from its first tap"
    await cy.taps("Join", card)
    await world.settle()
    shown = world.api.inline_text(copy)
    assert "Bo" in shown and "Cy" in shown and state(shown) == state(world.card(card))
    assert await referrals(world) == [], "no sharer known: nobody is attributed"


@pytest.mark.parametrize("store", STORES)
async def test_without_inline_mode_cards_have_no_share_button(
    api: FakeBotAPI, tmp_path: Path, store: str
) -> None:
    """A bot whose inline mode is off (@BotFather /setinline) posts its cards without the
    Share button, which Telegram would refuse; everything else works as before."""
    api.inline_mode = False
    async with running_world(api, tmp_path, store) as world:
        card = await world.leader.posts("Lychee\nprice: 8\nmin: 2\ndeadline: 3h")
        labels = world.labels(card)
        assert labels and not any("Share" in label for label in labels), labels
        assert "You're in" in await world.member("Ann").taps("Join", card)
