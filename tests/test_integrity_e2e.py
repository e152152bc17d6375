"""Holes closed, end to end: taps that must not hold stock or flip marks back."""

from __future__ import annotations

from tests.conftest import World

BOXES = "Mangoes\noptions: 5kg box 12.50 x3; 10kg box 22.00 x1\nmin: 2\ndeadline: 1d"


async def test_a_deal_wide_notify_me_on_a_deal_with_options_is_refused(world: World) -> None:
    card = await world.leader.posts(BOXES)
    ann = world.member("Ann")
    ann.opens_private_chat()

    answer = await ann.taps_data(card, "v1:wait:1")  # an old or forged deal-wide button

    assert "Notify me" in answer and "option" in answer
    assert await world.rows("SELECT COUNT(*) FROM waitlist") == [(0,)]
