"""Options, pickup points, payment chasing, the waitlist and privacy, end to end."""

from __future__ import annotations

import asyncio
import csv
import io

from tests.conftest import GROUP_ID, World, private_button

BOXES = "Mangoes\noptions: 5kg box 12.50 x3; 10kg box 22.00 x1\nmin: 2\ndeadline: 1d"


async def test_options_have_their_own_buttons_counts_and_stock(world: World) -> None:
    card = await world.leader.posts(BOXES)
    ann, bo = world.member("Ann"), world.member("Bo")

    assert [label for label in world.labels(card)][:2] == [
        "🛒 5kg box · ¥12.50",
        "🛒 10kg box · ¥22.00",
    ]
    assert "You're in: 1 × Mangoes (10kg box)" in await ann.taps("10kg box", card)
    await world.settle()
    text = world.card(card)
    assert "10kg box — ¥22.00: 1 in this round, 0 left" in text
    assert "1. Ann × 1 (10kg box)" in text
    assert "🔔 Notify me: 10kg box" in world.labels(card), "a sold-out option offers the waitlist"
    assert (await bo.taps("5kg box", card)).startswith("You're in")
    await world.settle()
    rows = await world.rows("SELECT user_id, unit_price, status FROM orders ORDER BY id")
    assert rows == [(ann.id, 2200, "confirmed"), (bo.id, 1250, "confirmed")]


async def test_two_members_race_for_the_last_unit_of_an_option(world: World) -> None:
    card = await world.leader.posts(BOXES)
    racers = [world.member(f"R{n}") for n in range(2)]
    data = world.button(GROUP_ID, card, "10kg box")

    queries = [world.api.tap(GROUP_ID, p.id, card, data) for p in racers]
    answers = [
        a["text"] for a in await asyncio.gather(*(world.api.wait_answer(q) for q in queries))
    ]

    assert sorted(a.startswith("You're in") for a in answers) == [False, True]
    assert "Sold out." in answers
    assert await world.rows("SELECT taken, stock FROM deal_options WHERE position = 2") == [(1, 1)]


async def test_options_are_locked_once_the_first_member_joins(world: World) -> None:
    card = await world.leader.posts(BOXES)
    assert "are changed" in await world.leader.says_and_hears("/options 1 Small 9.90 x5; Big 19.90")
    await world.settle()
    assert world.labels(card)[0].startswith("🛒 Small")
    await world.member("Ann").taps("Small", card)
    reply = await world.leader.says_and_hears("/options 1 Small 5.00")
    assert "locked" in reply


async def test_summary_and_export_group_by_option(world: World) -> None:
    world.leader.opens_private_chat()
    card = await world.leader.posts(BOXES)
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("5kg box", card)
    await ann.taps("5kg box", card)
    await bo.taps("10kg box", card)
    await world.settle()

    await world.leader.says_and_hears("/summary")
    summary = world.leader.private_texts()[0]
    assert "◦ 5kg box: 2 units · ¥25.00" in summary
    assert "◦ 10kg box: 1 unit · ¥22.00" in summary
    await world.leader.says_and_hears("/export 1")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    data = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert {(r["option"], r["quantity"], r["amount"]) for r in rows} == {
        ("5kg box", "2", "25.00"),
        ("10kg box", "1", "22.00"),
    }
    assert all(len(r["code"]) == 5 for r in rows)


async def test_pickup_points_codes_and_check_off(world: World) -> None:
    world.leader.opens_private_chat()
    assert "Saved" in await world.leader.says_and_hears("/settings pickup Clubhouse; North gate")
    refused = await world.leader.says_and_hears(
        "/deal Figs\nprice: 2\nmin: 2\ndeadline: 1d\npickup: Moon base"
    )
    assert "no pickup point “Moon base”" in refused
    card = await world.leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d")
    assert "Pickup: Clubhouse, North gate" in world.card(card)
    ann, bo = world.member("Ann"), world.member("Bo")

    await ann.taps("Join", card)
    await world.settle()
    message, data = private_button(world, ann, "North gate")
    answer = await ann.taps_data(message, data, chat_id=ann.id)
    assert answer == "Pickup: North gate ✓"
    await bo.taps("Join", card)  # the round forms
    await world.settle()

    confirmation = ann.private_texts()[-1]
    assert "pickup at North gate" in confirmation
    code = confirmation.split("Collection code: ")[1][:5]
    assert "Marked collected on 1 order" in await world.leader.says_and_hears(f"/collected {code}")
    await world.leader.says_and_hears("/summary")
    summary = next(t for t in world.leader.private_texts() if t.startswith("📋 Summary"))
    assert "🏠 North gate" in summary and "🏠 No pickup point chosen" in summary
    assert f"Figs × 1 [{code}] ✓" in summary


async def test_payment_is_claimed_confirmed_and_chased(world: World) -> None:
    world.leader.opens_private_chat()
    card = await world.leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d")
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()

    message, data = private_button(world, ann, "I've paid")
    assert "leader will confirm" in await ann.taps_data(message, data, chat_id=ann.id)
    await world.api.wait_until(
        lambda: any("says they paid" in t for t in world.leader.private_texts())
    )
    message, data = private_button(world, world.leader, "Received")
    assert "Payment confirmed" in await world.leader.taps_data(
        message, data, chat_id=world.leader.id
    )
    await world.api.wait_until(
        lambda: any("confirmed your payment" in t for t in ann.private_texts())
    )

    reply = await world.leader.says_and_hears("/unpaid")
    assert "privately" in reply
    unpaid = world.leader.private_texts()[-1]
    assert "Bo: 1 × Figs — ¥2.00" in unpaid and "Ann" not in unpaid
    message, data = private_button(world, world.leader, "Remind them all")
    first = await world.leader.taps_data(message, data, chat_id=world.leader.id)
    second = await world.leader.taps_data(message, data, chat_id=world.leader.id)
    assert first == "Reminded 1 member."
    assert second.startswith("Reminded 0 members; 1 not")
    assert sum("friendly reminder" in t for t in bo.private_texts()) == 1


async def test_the_waitlist_gets_freed_units_first_and_offers_lapse(world: World) -> None:
    card = await world.leader.posts("Durian\nprice: 30\nmin: 2\ndeadline: 1d\nstock: 2\nlimit: 2")
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await ann.taps("Join", card)
    await ann.taps("Join", card)
    await world.settle()
    assert "🔔 Notify me" in world.labels(card)
    assert "waitlist" in await bo.taps("Notify me", card)
    assert "waitlist" in await cy.taps("Notify me", card)

    await ann.taps("Leave", card)  # two units free: Bo and Cy are each offered one
    await world.settle()
    message, data = private_button(world, bo, "Take it")
    assert (await bo.taps_data(message, data, chat_id=bo.id)).startswith("You're in")
    assert await world.member("Di").taps_data(card, "v1:join:1") == "Sold out.", "Cy's is held"

    await world.pass_time(16 * 60)  # Cy lets the offer lapse: the unit is free again
    await world.api.wait_until(lambda: "Join" in " ".join(world.labels(card)))
    message, data = private_button(world, cy, "Take it")
    assert await cy.taps_data(message, data, chat_id=cy.id) == "That offer has lapsed or was taken."


async def test_restock_is_offered_to_the_waitlist(world: World) -> None:
    card = await world.leader.posts("Durian\nprice: 30\nmin: 2\ndeadline: 1d\nstock: 2")
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()  # the round formed and the deal sold out
    reply = await world.leader.says_and_hears("/restock 1 5")
    assert "not open" in reply or "closed" in reply

    card = await world.leader.posts("Kiwi\nprice: 3\nmin: 2\ndeadline: 1d\nstock: 2")
    await ann.taps("Join", card)
    await ann.taps("Join", card)
    await world.settle()
    assert "waitlist" in await cy.taps("Notify me", card)
    reply = await world.leader.says_and_hears("/restock 2 1")
    assert "1 offered to the waitlist first" in reply
    await world.api.wait_until(lambda: any("held for you" in t for t in cy.private_texts()))


async def test_privacy_shows_counts_instead_of_names(world: World) -> None:
    await world.leader.says_and_hears("/settings privacy counts")
    card = await world.leader.posts("Figs\nprice: 2\nmin: 5\ndeadline: 1d")
    await world.member("Ann").taps("Join", card)
    await world.member("Bo").taps("Join", card)
    await world.settle()
    text = world.card(card)
    assert "2 members, 2 units in this round" in text
    assert "Ann" not in text and "Bo" not in text


async def test_the_round_announcement_counts_people_not_orders(world: World) -> None:
    """Ann takes both options: the round forms with two people and three units."""
    card = await world.leader.posts(BOXES)
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("5kg box", card)
    await ann.taps("10kg box", card)
    await bo.taps("5kg box", card)  # the second person: the round forms
    await world.settle()
    formed = [text for text in world.group_texts() if "formed with" in text]
    assert len(formed) == 1 and "formed with 2 members (3 units)" in formed[0], formed
