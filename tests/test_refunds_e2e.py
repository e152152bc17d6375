"""Refunds: a paid order whose deal is cancelled is owed back until a leader marks it
(/refunds); Telegram has no refund call for provider payments."""

from __future__ import annotations

import csv
import io

from tests.conftest import World, checkout, invoice_of
from tests.test_telegram_payments_e2e import BOXES


async def test_a_cancelled_paid_order_is_owed_back_until_the_leader_marks_it(
    paying: World,
) -> None:
    world = paying
    card = await world.leader.posts(BOXES)
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("5kg box", card)
    await bo.taps("10kg box", card)  # the round forms; both are invoiced
    await world.settle()
    invoice = await invoice_of(world, ann)
    assert (await checkout(world, ann, invoice))["ok"] is True
    world.api.successful_payment(ann.id, invoice["payload"], "CNY", 1250, "charge-ann")
    await world.api.wait_until(lambda: any("Thank you" in t for t in ann.private_texts()))

    assert "is cancelled" in await world.leader.says_and_hears("/cancel 1")
    await world.settle()
    await world.api.wait_until(lambda: any("owes it back" in t for t in ann.private_texts()))
    told = next(t for t in ann.private_texts() if "owes it back" in t)
    assert "You paid ¥12.50" in told and "#1" in told
    assert not any("owes it back" in t for t in bo.private_texts()), "Bo never paid"
    notice = next(t for t in world.leader.private_texts() if "owed back" in t)
    assert "1 paid order is cancelled and owed back, ¥12.50 in all" in notice

    listing = await world.leader.says_and_hears("/refunds", chat_id=world.leader.id)
    assert "Refunds owed" in listing and "Ann" in listing and "¥12.50" in listing
    assert "charge-ann" in listing and "Bo" not in listing
    message = world.api.bot_messages(world.leader.id)[-1]["message_id"]
    buttons = world.api.buttons(world.leader.id, message)
    assert len(buttons) == 1 and "Refunded #1 Ann" in buttons[0][0]

    # Only a leader of the group may mark it, once.
    refused = world.api.tap(world.leader.id, bo.id, message, str(buttons[0][1]))
    assert "Only the group's leaders" in str((await world.api.wait_answer(refused)).get("text"))
    answer = await world.leader.taps_data(message, str(buttons[0][1]), world.leader.id)
    assert "marked refunded" in answer
    assert "Nothing is owed back" in world.card(message, world.leader.id), "redrawn"
    again = await world.leader.taps_data(message, str(buttons[0][1]), world.leader.id)
    assert "already marked refunded" in again

    rows = await world.rows("SELECT id, refund_due_at, refunded_by FROM orders ORDER BY id")
    assert rows[0][1] is not None and rows[0][2] == world.leader.id
    assert rows[1][1] is None, "an unpaid order is owed nothing"

    await world.leader.says_and_hears("/export 1")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    data = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    table = {r["member_name"]: r for r in csv.DictReader(io.StringIO(data))}
    assert table["Ann"]["refund_due_at"] and table["Ann"]["refunded_at"]
    assert not table["Bo"]["refund_due_at"] and not table["Bo"]["refunded_at"]


async def test_a_member_paid_by_hand_is_owed_back_in_russian(paying: World) -> None:
    world = paying
    await world.leader.says_and_hears("/settings lang ru")
    card = await world.leader.posts("Манго\nцена: 10\nминимум: 1\nсрок: 1д")
    ivan = world.member("Ivan", lang="ru")
    await ivan.taps_data(card, "v1:join:1")
    await world.settle()
    await world.leader.says_and_hears("/paid 1")
    await world.leader.says_and_hears("/cancel 1")
    await world.settle()
    await world.api.wait_until(lambda: any("отменена" in t for t in ivan.private_texts()))
    assert any("должен вернуть вам" in t for t in ivan.private_texts())
