"""A rush of taps: nothing oversells, every tap is answered once."""

from __future__ import annotations

import asyncio

from tests.conftest import GROUP_ID, World


async def test_two_hundred_members_tap_join_at_once_on_a_stock_of_fifty(world: World) -> None:
    card = await world.leader.posts("Cherries\nprice: 20\nmin: 10\ndeadline: 1d\nstock: 50")
    members = [world.member() for _ in range(200)]
    join = world.button(GROUP_ID, card, "Join")

    queries = [world.api.tap(GROUP_ID, m.id, card, join) for m in members]
    answers = await asyncio.gather(*(world.api.wait_answer(q, timeout=30) for q in queries))
    await world.settle()

    texts = [a["text"] for a in answers]
    assert sum(t.startswith("You're in") for t in texts) == 50
    assert texts.count("Sold out.") == 150
    assert all(len(world.api.answers[q]) == 1 for q in queries), "each tap answered once"
    confirmed = await world.rows(
        "SELECT COALESCE(SUM(quantity), 0), COUNT(DISTINCT user_id) FROM orders"
        " WHERE status = 'confirmed'"
    )
    assert confirmed == [(50, 50)]
    assert await world.rows("SELECT COUNT(*) FROM orders WHERE status = 'pending'") == [(0,)]
    assert sum(t.count("formed with 10 members") for t in world.group_texts()) == 5
    final = world.card(card)
    assert "Rounds formed: 5" in final or "5 rounds formed" in final
    edits = world.api.calls("editMessageText", chat_id=GROUP_ID)
    assert len(edits) < 40, f"card edits are coalesced, got {len(edits)}"
