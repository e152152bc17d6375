"""Holes closed, end to end: taps that must not hold stock or flip marks back."""

from __future__ import annotations

from tests.conftest import World
from tests.test_leader_tools_e2e import a_busy_day, leader_summary

BOXES = "Mangoes\noptions: 5kg box 12.50 x3; 10kg box 22.00 x1\nmin: 2\ndeadline: 1d"


async def test_a_deal_wide_notify_me_on_a_deal_with_options_is_refused(world: World) -> None:
    card = await world.leader.posts(BOXES)
    ann = world.member("Ann")
    ann.opens_private_chat()

    answer = await ann.taps_data(card, "v1:wait:1")  # an old or forged deal-wide button

    assert "Notify me" in answer and "option" in answer
    assert await world.rows("SELECT COUNT(*) FROM waitlist") == [(0,)]


async def mark_panel(world: World) -> int:
    """The leader's private summary with its mark buttons: the panel's message id."""
    await a_busy_day(world)
    await leader_summary(world)
    return int(
        next(
            m["message_id"]
            for m in world.api.bot_messages(world.leader.id)
            if "tap to mark" in (m.get("text") or "")
        )
    )


async def test_a_redelivered_paid_tap_leaves_the_order_paid(world: World) -> None:
    leader = world.leader
    panel = await mark_panel(world)
    _, data = world.api.buttons(leader.id, panel)[0]
    query = world.api.tap(leader.id, leader.id, panel, str(data))
    update_id = world.api.pushed[-1]["update_id"]
    assert (await world.api.wait_answer(query))["text"].endswith(": paid.")

    world.api.redeliver(update_id)
    await world.api.wait_until(lambda: len(world.api.answers[query]) >= 2)
    await world.settle()

    assert await world.rows("SELECT paid_at IS NOT NULL FROM orders WHERE id = 1") == [(1,)]
    assert await world.rows("SELECT mark, value FROM order_marks") == [("paid", 1)]


async def test_an_old_mark_button_without_its_target_changes_nothing(world: World) -> None:
    leader = world.leader
    panel = await mark_panel(world)
    query = world.api.tap(leader.id, leader.id, panel, "v1:paid:1")  # before marks said which

    answer = await world.api.wait_answer(query)

    assert "out of date" in answer["text"]
    assert await world.rows("SELECT COUNT(*) FROM order_marks") == [(0,)]


async def test_the_currency_stays_while_a_deal_is_open_or_a_balance_is_owed(
    world: World,
) -> None:
    leader = world.leader
    await leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d")

    async def says_and_hears_about(command: str, words: str) -> None:
        # The group's messages are paced: the reply may come after an earlier one.
        since = len(world.api.requests)
        leader.says(command)
        await world.api.wait_for(
            "sendMessage", since=since, where=lambda r: words in world.visible(r.params)
        )

    await says_and_hears_about("/settings currency USD", "the group has open deals")
    assert await world.rows("SELECT currency FROM groups") == [("CNY",)]
    await says_and_hears_about("/cancel 1", "is cancelled")
    await says_and_hears_about("/settings reward 1.50", "Saved")
    await says_and_hears_about("/settings currency USD", "the fixed reward is an amount")
    assert await world.rows("SELECT currency FROM groups") == [("CNY",)]
    await says_and_hears_about("/settings reward 5%", "Saved")
    await says_and_hears_about("/settings currency USD", "Saved")
    assert await world.rows("SELECT currency FROM groups") == [("USD",)]
