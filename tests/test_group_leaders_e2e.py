"""The group's leaders (administrators and named leaders) hear what a deal's leader would:
payment claims on an anonymous admin's deal, and the daily summary."""

from __future__ import annotations

from typing import Any

from tests.conftest import GROUP_ID, Person, World

ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}


async def named_leader(world: World, name: str) -> Person:
    """A member the group's creator names a leader with /settings leaders add."""
    person = world.member(name)
    await person.says_and_hears("/deals")  # the bot has seen them
    await world.settle()  # and stored them: that write goes in the background
    done = await world.leader.says_and_hears(f"/settings leaders add @{name.lower()}")
    assert "is now a leader" in done
    return person


async def anonymous_admin_posts(world: World, form: str) -> int:
    """An administrator posting as the group posts a deal; the card's message id."""
    since = len(world.api.requests)
    text = f"/deal {form}"
    update: dict[str, Any] = {
        "message_id": 4242,
        "date": 1_800_000_000,
        "chat": world.api.chats[GROUP_ID],
        "from": ANONYMOUS_ADMIN,
        "sender_chat": world.api.chats[GROUP_ID],
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len("/deal")}],
    }
    world.api.push_update({"message": update})
    await world.api.wait_for(
        "sendMessage",
        since=since,
        where=lambda r: r.params.get("chat_id") == GROUP_ID and "reply_markup" in r.params,
    )
    return int(world.api.bot_messages(GROUP_ID)[-1]["message_id"])


def private_button(world: World, person: Person, label: str) -> tuple[int, str]:
    for message in reversed(world.api.bot_messages(person.id)):
        for text, data in world.api.buttons(person.id, message["message_id"]):
            if label in text:
                return message["message_id"], str(data)
    raise AssertionError(f"no private button {label!r} for {person.name}")


async def test_a_payment_claim_on_an_anonymous_admins_deal_reaches_the_groups_leaders(
    world: World,
) -> None:
    world.leader.opens_private_chat()
    max_ = await named_leader(world, "Max")
    card = await anonymous_admin_posts(world, "Figs\nprice: 2\nmin: 2\ndeadline: 1d")
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()

    message, data = private_button(world, ann, "I've paid")
    assert "leader will confirm" in await ann.taps_data(message, data, chat_id=ann.id)
    await world.settle()

    for leader in (world.leader, max_):
        assert any("says they paid" in t for t in leader.private_texts()), leader.name
    assert world.api.calls("sendMessage", chat_id=ANONYMOUS_ADMIN["id"]) == []
    message, data = private_button(world, max_, "Received")
    assert "Payment confirmed" in await max_.taps_data(message, data, chat_id=max_.id)


async def test_the_daily_summary_reaches_the_named_leaders_too(world: World) -> None:
    max_ = await named_leader(world, "Max")
    card = await world.leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d")
    await world.member("Ann").taps("Join", card)
    await world.member("Bo").taps("Join", card)
    await world.settle()

    await world.pass_time_until("21:01")
    await world.api.wait_until(
        lambda: any(t.startswith("📋 Summary") for t in max_.private_texts())
    )
