"""Personal data: stored only for people who use the bot, and erased on /forgetme."""

from __future__ import annotations

import asyncio
import csv
import io

from tests.conftest import GROUP_ID, Person, World
from tests.test_referrals_e2e import DEAL, opens, personal_link

MEMBER_ROW = "SELECT first_name, last_name, username, language_code FROM members WHERE user_id = ?"


async def forgets(world: World, person: Person) -> str:
    """/forgetme privately, then tap the confirm button; return the final answer."""
    warning = await person.says_and_hears("/forgetme", chat_id=person.id)
    assert "cannot be undone" in warning
    message = world.api.bot_messages(person.id)[-1]["message_id"]
    since = len(world.api.requests)
    await person.taps("Forget me", message, chat_id=person.id)
    sent = await world.api.wait_for(
        "editMessageText", since=since, where=lambda r: r.params.get("chat_id") == person.id
    )
    return world.visible(sent.params)


async def test_a_member_who_only_chats_is_not_stored(world: World) -> None:
    ann = world.member("Ann")
    dan, eve = world.api.user(4101, "Dan"), world.api.user(4102, "Eve")
    ann.says("hi everyone, who wants mangoes?")
    world.api.push_update(
        {
            "message": {
                "message_id": 900,
                "date": 1_800_000_000,
                "chat": world.api.chats[GROUP_ID],
                "from": ann.user,
                "new_chat_members": [dan],
            }
        }
    )
    world.api.push_update(
        {
            "chat_member": {
                "chat": world.api.chats[GROUP_ID],
                "from": ann.user,
                "date": 1_800_000_000,
                "old_chat_member": {"status": "left", "user": eve},
                "new_chat_member": {"status": "member", "user": eve},
            }
        }
    )
    expected = "1. Ann — 0 referred orders, 2 members added"
    board = ""
    for _ in range(50):  # both invites are updates of their own, handled concurrently
        board = await world.leader.says_and_hears("/top")
        if expected in board:
            break
        await asyncio.sleep(0.05)
    assert expected in board, "named live, not stored"
    await world.settle()

    for person in (ann.id, dan["id"], eve["id"]):
        assert await world.rows(MEMBER_ROW, person) == []
    assert sorted(await world.rows("SELECT invitee_id, inviter_id FROM group_invites")) == [
        (dan["id"], ann.id),
        (eve["id"], ann.id),
    ]

    await ann.says_and_hears("/orders")  # a command to the bot: now she is a user
    await world.settle()
    assert await world.rows(MEMBER_ROW, ann.id) == [("Ann", "", "ann", "en")]


async def test_forgetme_in_a_group_points_to_the_private_chat(world: World) -> None:
    ann = world.member("Ann")
    reply = await ann.says_and_hears("/forgetme")
    assert "private chat" in reply
    assert "cannot be undone" not in reply
    await world.settle()
    assert await world.rows(MEMBER_ROW, ann.id) == [("Ann", "", "ann", "en")]


async def test_forgetme_erases_names_but_keeps_orders_and_ledger(world: World) -> None:
    await world.leader.says_and_hears("/settings reward 2.00")
    card = await world.leader.posts(DEAL)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await opens(world, bo, await personal_link(world, ann, card))
    await bo.taps("Join", card)
    await cy.taps("Join", card)
    await world.settle()
    orders_sql = "SELECT id, user_id, quantity, unit_price, status FROM orders ORDER BY id"
    ledger_sql = "SELECT user_id, kind, amount, currency FROM ledger ORDER BY id"
    orders, ledger = await world.rows(orders_sql), await world.rows(ledger_sql)
    assert ledger == [(ann.id, "reward", 200, "CNY")]

    assert "erased" in await forgets(world, ann)
    assert "erased" in await forgets(world, bo)
    await world.settle()

    assert await world.rows(orders_sql) == orders
    assert await world.rows(ledger_sql) == ledger
    for person in (ann, bo):
        assert await world.rows(MEMBER_ROW, person.id) == [("", "", None, None)]
    assert all(
        n
        for (n,) in await world.rows(
            "SELECT forgotten_number FROM members WHERE user_id IN (?, ?)", ann.id, bo.id
        )
    )

    world.leader.opens_private_chat()
    assert "sent it to you privately" in await world.leader.says_and_hears("/export")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    data = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    names = {r["member_name"] for r in csv.DictReader(io.StringIO(data))}
    assert "Bo" not in names and "Cy" in names
    assert any(name.startswith("Forgotten member #") for name in names)
    board = await world.leader.says_and_hears("/top")
    assert "Ann" not in board and "1. Forgotten member #" in board

    # Using the bot again stores the member anew.
    await bo.says_and_hears("/orders", chat_id=bo.id)
    await world.settle()
    assert await world.rows(MEMBER_ROW, bo.id) == [("Bo", "", "bo", "en")]
