"""Answers that list a growing set (orders, deals, ledger, …) arrive whole in several messages."""

from __future__ import annotations

import asyncio

from bot.texts import MESSAGE_LIMIT, utf16_len
from tests.conftest import GROUP_ID, World
from tests.fakeapi import Recorded

# A long title makes every listed line long, so a few dozen lines pass Telegram's limit.
TITLE = "Alphonso mangoes from the Ratnagiri coast, hand picked, 5 kg box " + "x" * 50


def sends(world: World, since: int, chat_id: int) -> list[Recorded]:
    return [
        r
        for r in world.api.requests[since:]
        if r.method == "sendMessage" and r.params.get("chat_id") == chat_id
    ]


def all_within_limit(sent: list[Recorded]) -> None:
    assert sent, "nothing was sent"
    for record in sent:
        assert record.ok, record.description
        assert utf16_len(str(record.params["text"])) <= MESSAGE_LIMIT
        assert "something went wrong" not in str(record.params["text"])


async def test_unpaid_with_forty_orders_arrives_whole_in_several_messages(world: World) -> None:
    card = await world.leader.posts(f"{TITLE}\nprice: 12.50\nmin: 41\ndeadline: 1d")
    members = [world.member(f"Buyer{n}") for n in range(41)]
    for member in members:
        await member.taps("Join", card)
    await world.settle()
    orders = await world.rows("SELECT id FROM orders WHERE status = 'confirmed'")
    assert len(orders) == 41
    world.leader.opens_private_chat()

    since = len(world.api.requests)
    assert "privately" in await world.leader.says_and_hears("/unpaid")
    await world.settle()
    sent = sends(world, since, world.leader.id)
    all_within_limit(sent)
    assert len(sent) > 1
    text = "\n".join(str(r.params["text"]) for r in sent)
    assert all(f"#{order_id} " in text for (order_id,) in orders), "every order is listed"
    assert "Total unpaid: ¥512.50" in text
    assert "reply_markup" in sent[-1].params, "the reminder button comes under the last part"


async def test_deals_with_thirty_six_open_deals_arrives_whole(world: World) -> None:
    for n in range(37):
        await world.leader.posts(f"{TITLE} {n}\nprice: 12.50\nmin: 2\ndeadline: 1d")
    await world.settle()
    ann = world.member("Ann")

    since = len(world.api.requests)
    ann.says("/deals")
    await world.api.wait_until(
        lambda: any("#37," in str(r.params["text"]) for r in sends(world, since, GROUP_ID))
    )
    await asyncio.sleep(0.2)
    sent = sends(world, since, GROUP_ID)
    all_within_limit(sent)
    text = "\n".join(str(r.params["text"]) for r in sent)
    assert all(f"{TITLE} {n}</a>" in text for n in range(37)), "every deal is listed"
