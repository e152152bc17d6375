"""The payment window end to end (/settings paywithin): an unpaid order is reminded once and
released when its window ends, its unit going to the waitlist first; paid or claimed
orders are kept; a restart in the middle changes nothing. The clock is moved, never
waited on."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime, build_application
from bot.clock import Clock
from tests.conftest import (
    GROUP_ID,
    PROVIDER_TOKEN,
    STORES,
    Person,
    World,
    bot_process,
    drop_schema,
    operator_bot_env,
    private_button,
    running_world,
    settings_for,
)
from tests.fakeapi import FakeBotAPI

HOUR = 3600
REMINDER = "is not paid yet"
RELEASED = "is released: it was not paid"


def told(person: Person, words: str) -> int:
    """How many private messages to `person` contain `words`."""
    return sum(words in text for text in person.private_texts())


async def summary_of_today(world: World) -> str:
    """The leader's /summary, as sent privately."""
    before = len(world.api.bot_messages(world.leader.id))
    await world.leader.says_and_hears("/summary")
    await world.api.wait_until(
        lambda: any(t.startswith("📋 Summary") for t in world.leader.private_texts()[before:])
    )
    return "\n".join(world.leader.private_texts()[before:])


async def sold_out_with_a_waiting_member(world: World) -> tuple[int, list[Person]]:
    """A 24h window; round 1 forms (Ann, Bo), Cy takes the last unit in round 2, and Di
    waits for a unit. The card's message id and [Ann, Bo, Cy, Di]."""
    world.leader.opens_private_chat()
    assert "Saved" in await world.leader.says_and_hears("/settings paywithin 24h")
    card = await world.leader.posts("Durian\nprice: 30\nmin: 2\ndeadline: 3d\nstock: 3")
    ann, bo, cy, di = (world.member(name) for name in ("Ann", "Bo", "Cy", "Di"))
    await ann.taps("Join", card)
    await bo.taps("Join", card)  # round 1 forms; round 2 opens with one unit left
    await world.settle()
    assert (await cy.taps("Join", card)).startswith("You're in")
    await world.settle()
    assert "waitlist" in await di.taps("Notify me", card)
    return card, [ann, bo, cy, di]


async def test_an_unpaid_order_is_reminded_once_then_released_to_the_waitlist(
    world: World,
) -> None:
    card, (ann, bo, cy, di) = await sold_out_with_a_waiting_member(world)
    confirmation = next(t for t in ann.private_texts() if "Your order is confirmed" in t)
    assert "⏳ Please pay by " in confirmation, "the window is named in the confirmation"
    assert "marked paid" in await world.leader.says_and_hears("/paid @bo")

    await world.pass_time(17 * HOUR)
    assert told(ann, REMINDER) == 0, "not before a quarter of the window is left"
    await world.pass_time(HOUR)  # 18h: six hours before the end
    assert told(ann, REMINDER) == 1 and told(bo, REMINDER) == 0, "the paid order is not chased"
    reminder = next(t for t in ann.private_texts() if REMINDER in t)
    assert "Order #1, 1 × Durian — ¥30.00, is not paid yet" in reminder
    assert "Please pay within 6 hours" in reminder
    private_button(world, ann, "I've paid")  # the reminder carries the button
    await world.pass_time(HOUR)
    assert told(ann, REMINDER) == 1, "one reminder"

    await world.pass_time(5 * HOUR)  # 24h: the window has ended
    await world.api.wait_until(lambda: told(di, "held for you") == 1)
    assert told(ann, RELEASED) == 1
    released = next(t for t in ann.private_texts() if RELEASED in t)
    assert "Your order #1, 1 × Durian — ¥30.00, is released: it was not paid within 1d" in released
    assert await world.rows("SELECT user_id, status, cancel_reason FROM orders ORDER BY id") == [
        (ann.id, "cancelled", "unpaid"),
        (bo.id, "confirmed", None),
        (cy.id, "pending", None),
    ]
    # Ann's unit is held for Di: nobody else may take it.
    assert await world.member("Eve").taps_data(card, "v1:join:1") == "Sold out."
    message, data = private_button(world, di, "Take it")
    assert (await di.taps_data(message, data, chat_id=di.id)).startswith("You're in")
    await world.settle()  # Cy and Di: round 2 forms
    assert await world.rows("SELECT user_id, status FROM orders WHERE id > 2 ORDER BY id") == [
        (cy.id, "confirmed"),
        (di.id, "confirmed"),
    ]
    assert await world.rows("SELECT taken, stock FROM deals") == [(3, 3)]

    summary = await summary_of_today(world)
    assert "⌛ Released unpaid (payment window ended): 1 order\n  ◦ #1 Ann × 1 — ¥30.00" in summary
    # Ann's "I've paid" now says why nothing can be paid.
    message, data = private_button(world, ann, "I've paid")
    assert "released" in await ann.taps_data(message, data, chat_id=ann.id)

    await world.pass_time(2 * 86400)  # later sweeps change nothing
    assert told(ann, RELEASED) == 1 and told(ann, REMINDER) == 1
    assert told(bo, RELEASED) == 0


async def test_paid_orders_are_kept_and_a_claim_holds_the_release_until_rejected(
    world: World,
) -> None:
    world.leader.opens_private_chat()
    assert "Saved" in await world.leader.says_and_hears("/settings paywithin 2h")
    card = await world.leader.posts("Figs\nprice: 2\nmin: 4\ndeadline: 1d")
    ann, bo, cy, di = (world.member(name) for name in ("Ann", "Bo", "Cy", "Di"))
    for person in (ann, bo, cy, di):
        await person.taps("Join", card)
    await world.settle()  # the round forms: orders 1 to 4
    assert "marked paid" in await world.leader.says_and_hears("/paid @bo")  # cash
    for person in (cy, di):  # "I've paid"
        message, data = private_button(world, person, "I've paid")
        assert "leader will confirm" in await person.taps_data(message, data, chat_id=person.id)
    await world.api.wait_until(
        lambda: sum("says they paid" in t for t in world.leader.private_texts()) == 2
    )
    for message in reversed(world.api.bot_messages(world.leader.id)):
        if "Cy says they paid" in (message.get("text") or ""):
            data = world.button(world.leader.id, message["message_id"], "Received")
            await world.leader.taps_data(message["message_id"], data, chat_id=world.leader.id)
            break

    await world.pass_time(HOUR + 60)  # reminded an hour before the end: Ann alone
    assert [told(p, REMINDER) for p in (ann, bo, cy, di)] == [1, 0, 0, 0]
    await world.pass_time(HOUR)
    assert [told(p, RELEASED) for p in (ann, bo, cy, di)] == [1, 0, 0, 0]
    statuses = "SELECT status, cancel_reason FROM orders ORDER BY id"
    assert await world.rows(statuses) == [
        ("cancelled", "unpaid"),
        ("confirmed", None),
        ("confirmed", None),
        ("confirmed", None),
    ], "paid (cash or claim received) and claimed orders stay"

    # The leader has not received Di's payment: the claim no longer holds the order.
    message = next(
        m
        for m in reversed(world.api.bot_messages(world.leader.id))
        if "Di says they paid" in (m.get("text") or "")
    )
    data = world.button(world.leader.id, message["message_id"], "Not received")
    await world.leader.taps_data(message["message_id"], data, chat_id=world.leader.id)
    await world.pass_time(30)  # the next sweep
    assert told(di, RELEASED) == 1
    assert (await world.rows(statuses))[3] == ("cancelled", "unpaid")
    assert [told(p, RELEASED) for p in (bo, cy)] == [0, 0]
    summary = await summary_of_today(world)
    assert "Released unpaid (payment window ended): 2 orders" in summary


async def test_an_invoice_paid_is_kept_and_one_left_unpaid_is_released(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    payments = {"provider_token": PROVIDER_TOKEN}
    async with running_world(api, tmp_path, STORES[-1], payments=payments) as world:
        world.leader.opens_private_chat()
        assert "Saved" in await world.leader.says_and_hears("/settings pay invoice")
        assert "Saved" in await world.leader.says_and_hears("/settings paywithin 1d")
        card = await world.leader.posts("Mangoes\nprice: 12.50\nmin: 2\ndeadline: 1d")
        ann, bo = world.member("Ann"), world.member("Bo")
        await ann.taps("Join", card)
        await bo.taps("Join", card)
        await world.settle()
        await world.api.wait_until(lambda: world.api.invoices(ann.id) and world.api.invoices(bo.id))
        invoice = world.api.invoices(ann.id)[-1]
        world.api.successful_payment(ann.id, invoice["payload"], "CNY", 1250, "charge-1")
        await world.api.wait_until(lambda: told(ann, "Thank you") == 1)

        await world.pass_time(18 * HOUR + 60)
        assert told(ann, REMINDER) == 0 and told(bo, REMINDER) == 1
        reminder = next(t for t in bo.private_texts() if REMINDER in t)
        assert "Pay with the invoice" in reminder
        with pytest.raises(AssertionError):
            private_button(world, bo, "I've paid")  # one way to pay: the invoice
        await world.pass_time(6 * HOUR)
        assert told(bo, RELEASED) == 1 and told(ann, RELEASED) == 0
        assert await world.rows("SELECT status FROM orders ORDER BY id") == [
            ("confirmed",),
            ("cancelled",),
        ]
        late = world.api.invoices(bo.id)[-1]
        query = world.api.pre_checkout(bo.id, late["payload"], "CNY", 1250)
        await world.api.wait_until(lambda: world.api.checkouts[query])
        answer = world.api.checkouts[query][0]
        assert answer["ok"] is False and "released" in answer["error_message"]


async def test_the_window_is_a_setting_and_reaches_only_orders_confirmed_since(
    world: World,
) -> None:
    leader = world.leader
    assert "not a valid paywithin" in await leader.says_and_hears("/settings paywithin 5m")
    assert "not a valid paywithin" in await leader.says_and_hears("/settings paywithin soon")
    assert "paywithin: off" in await leader.says_and_hears("/settings")
    card = await leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d")
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()
    await world.pass_time(3 * 86400)  # no window: nothing happens to unpaid orders
    assert await world.rows("SELECT status FROM orders") == [("confirmed",), ("confirmed",)]

    shown = await leader.says_and_hears("/settings 付款期限 1天12小时")
    assert "paywithin: 1d 12 hours" in shown
    await world.pass_time(3 * 86400)
    assert told(ann, REMINDER) == 0 and told(ann, RELEASED) == 0, "old orders are left alone"
    assert "paywithin: off" in await leader.says_and_hears("/settings paywithin off")
    await leader.says_and_hears("/settings paywithin 90m")
    card = await leader.posts("Plums\nprice: 3\nmin: 2\ndeadline: 1d")
    cy, di = world.member("Cy"), world.member("Di")
    await cy.taps("Join", card)
    await di.taps("Join", card)
    await world.settle()
    await world.pass_time(45 * 60 + 30)
    assert told(cy, REMINDER) == 1 and told(di, REMINDER) == 1 and told(ann, REMINDER) == 0
    await world.pass_time(45 * 60)
    assert told(cy, RELEASED) == 1 and told(di, RELEASED) == 1 and told(ann, RELEASED) == 0
    taken = await world.rows("SELECT title, taken FROM deals ORDER BY id")
    assert taken == [("Figs", 2), ("Plums", 0)], "the new deal's units went back"


# -- a restart in the middle ------------------------------------------------------------


@asynccontextmanager
async def restartable(
    api: FakeBotAPI, tmp_path: Path, engine: str
) -> AsyncIterator[Callable[[float], Awaitable[World]]]:
    """Start the bot on one store as often as needed, each time with its clock `offset`
    seconds ahead of real time; every run is stopped at the end."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = settings_for(api, tmp_path / "bot.db", engine, schema)
    running: list[Runtime] = []

    async def start(offset: float) -> World:
        if running and running[-1].app.running:
            await running[-1].stop()
        clock = Clock(offset)
        runtime = Runtime(build_application(settings, clock))
        running.append(runtime)
        await runtime.start()
        world = World(api, runtime, clock)
        await world.settle()
        return world

    try:
        yield start
    finally:
        if running and running[-1].app.running:
            await running[-1].stop()
        if engine == "postgres":
            await drop_schema(schema)


@pytest.mark.parametrize("engine", STORES)
async def test_a_restart_in_the_middle_still_reminds_and_releases_once(
    api: FakeBotAPI, tmp_path: Path, engine: str
) -> None:
    async with restartable(api, tmp_path, engine) as start:
        world = await start(0)
        card, (ann, bo, cy, di) = await sold_out_with_a_waiting_member(world)
        await world.pass_time(18 * HOUR + 60)  # reminded
        assert told(ann, REMINDER) == 1 and told(bo, REMINDER) == 1

        # Down before the end of the window; back after it: the release happens at start.
        world = await start(24 * HOUR + 120)
        await world.api.wait_until(lambda: told(di, "held for you") == 1)
        assert told(ann, RELEASED) == 1 and told(bo, RELEASED) == 1
        assert told(ann, REMINDER) == 1, "the reminder is not sent again"

        # Once more: nothing is released or reminded twice, the units stay where they went.
        world = await start(24 * HOUR + 5 * 60)  # while Di's offer holds the unit
        await world.pass_time(60)
        assert told(ann, RELEASED) == 1 and told(bo, RELEASED) == 1
        assert told(ann, REMINDER) == 1 and told(di, "held for you") == 1
        rows: list[tuple[Any, ...]] = await world.rows(
            "SELECT user_id, status, cancel_reason FROM orders ORDER BY id"
        )
        assert rows == [
            (ann.id, "cancelled", "unpaid"),
            (bo.id, "cancelled", "unpaid"),
            (cy.id, "pending", None),
        ]
        # Two units freed: one held for Di (the only one waiting), one free to join.
        assert await world.rows("SELECT taken FROM deals") == [(2,)]
        assert "Join" in " ".join(world.labels(card))


def started_bot(
    api: FakeBotAPI, db: Path, log: Path, clock_offset: int = 0
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`python -m bot` as an operator runs it (as in tests/test_restart.py), sweeping
    twice a second."""
    env = operator_bot_env(api, db, clock_offset, GROUPBUY_DEALS__SWEEP_SECONDS="0.5")
    return bot_process(env, log)


async def test_killed_twice_the_bot_still_reminds_and_releases_once(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    api.group(GROUP_ID, "Mango lovers", creator=api.user(1001, "Lena"), admins=[])
    api.started_users.update({2001, 2002})
    api.user(2001, "Ann")
    api.user(2002, "Bo")

    def texts(user_id: int, words: str) -> int:
        return sum(words in (m.get("text") or "") for m in api.bot_messages(user_id))

    with started_bot(api, db, log) as first:
        api.send_text(GROUP_ID, 1001, "/settings paywithin 1d")
        api.send_text(GROUP_ID, 1001, "/deal Lychee\nprice: 8\nmin: 2\ndeadline: 2d")
        card = await api.wait_for(
            "sendMessage",
            where=lambda r: r.params.get("chat_id") == GROUP_ID and "Lychee" in r.params["text"],
            timeout=20,
        )
        card_id = card.result["message_id"]  # type: ignore[index]
        join = next(data for text, data in api.buttons(GROUP_ID, card_id) if "Join" in text)
        for uid in (2001, 2002):
            answer = await api.wait_answer(api.tap(GROUP_ID, uid, card_id, str(join)))
            assert answer["text"].startswith("You're in")  # the round forms with the second
        await api.wait_until(lambda: texts(2001, "confirmed") and texts(2002, "confirmed"), 20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    with started_bot(api, db, log, clock_offset=19 * HOUR) as second:  # past the reminder
        await api.wait_until(lambda: texts(2001, REMINDER) and texts(2002, REMINDER), 20)
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=10)

    with started_bot(api, db, log, clock_offset=24 * HOUR + 60) as third:  # past the end
        await api.wait_until(lambda: texts(2001, RELEASED) and texts(2002, RELEASED), 20)
        await asyncio.sleep(1.5)  # the sweeps that follow (every 0.5 s) change nothing
        third.send_signal(signal.SIGKILL)
        third.wait(timeout=10)

    assert [texts(uid, REMINDER) for uid in (2001, 2002)] == [1, 1]
    assert [texts(uid, RELEASED) for uid in (2001, 2002)] == [1, 1]
    with sqlite3.connect(db) as conn:
        orders = conn.execute(
            "SELECT user_id, status, cancel_reason, pay_reminded_at IS NOT NULL FROM orders"
            " ORDER BY user_id"
        ).fetchall()
        taken = conn.execute("SELECT taken FROM deals").fetchone()
    assert orders == [(2001, "cancelled", "unpaid", 1), (2002, "cancelled", "unpaid", 1)]
    assert taken == (0,)
