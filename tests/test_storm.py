"""A deadline storm: many deals falling due at once must not keep a tap waiting behind all
of their closings (bench/many_groups.py measures the whole storm)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import World


async def test_deadlines_close_one_deal_at_a_time(sqlite_world: World) -> None:
    # Every write queues for the store's one write lock in turn: a thousand closings
    # queued at once put a tap's join behind all of them (27 s measured), one at a time
    # behind one at most.
    service = sqlite_world.service
    rounds = service.store.rounds
    close_due = rounds.close_due
    under_way = most = 0

    async def counted(deal_id: int, now: int) -> Any:
        nonlocal under_way, most
        under_way += 1
        most = max(most, under_way)
        try:
            await asyncio.sleep(0.01)
            return await close_due(deal_id, now)
        finally:
            under_way -= 1

    rounds.close_due = counted  # type: ignore[method-assign]
    await asyncio.gather(*(service.close_due(deal_id) for deal_id in range(1, 21)))
    assert most == 1
