"""The store's marks by name: a member's unmarked orders in a deal marked as one batch, and
its Undo, which takes off exactly that batch's marks, once, on each engine."""

from __future__ import annotations

from storage.store import Store
from tests.conftest import STORE_NOW
from tests.test_store import member, new_deal


async def paid(store: Store) -> list[int]:
    rows = await store.engine.reader.all(
        "SELECT user_id FROM orders WHERE paid_at IS NOT NULL ORDER BY user_id"
    )
    return [row["user_id"] for row in rows]


async def test_undo_takes_off_its_own_marks_once_whatever_its_range_holds(store: Store) -> None:
    deal_id = await new_deal(store, min_members=2)
    ann, bo = member(1), member(2)
    await store.rounds.join_round(deal_id, ann, STORE_NOW)
    await store.rounds.join_round(deal_id, bo, STORE_NOW)  # the round forms: both confirmed

    batch = await store.orders.mark_member_in_deal(deal_id, ann.user_id, "paid", 7, STORE_NOW)
    assert batch is not None
    order_ids, first, last = batch
    assert len(order_ids) == 1 and first == last
    assert (
        await store.orders.mark_member_in_deal(deal_id, ann.user_id, "paid", 7, STORE_NOW) is None
    )
    assert await store.orders.mark_batch(first) == (deal_id, ann.user_id, "paid")
    await store.orders.mark_orders(
        [row.order.id for row in await store.orders.member_orders_in_deal(deal_id, bo.user_id)],
        "paid",
        True,
        7,
        STORE_NOW,
    )
    other = await store.engine.reader.one("SELECT max(id) AS id FROM order_marks")
    assert other is not None and other["id"] > last

    # A range stretched over Bo's mark (a forged button) still takes off only Ann's.
    assert await store.orders.undo_mark_batch(first, other["id"], 8, STORE_NOW + 1) == (1, 1)
    assert await paid(store) == [bo.user_id]
    assert await store.orders.undo_mark_batch(first, last, 8, STORE_NOW + 2) == (0, 1)
    await store.orders.mark_orders(list(order_ids), "paid", True, 9, STORE_NOW + 3)
    assert await store.orders.undo_mark_batch(first, last, 8, STORE_NOW + 4) == (0, 1)
    assert await paid(store) == [ann.user_id, bo.user_id], "set again since: it stays"
    assert await store.orders.undo_mark_batch(10_000, 10_001, 8, 0) == (0, 0), "no such batch"
