"""Telegram Payments end to end: invoices on confirmation, pre-checkout, the payment."""

from __future__ import annotations

import csv
import io

from tests.conftest import PROVIDER_TOKEN, World, checkout, invoice_of

BOXES = "Mangoes\noptions: 5kg box 12.50 x3; 10kg box 22.00 x1\nmin: 2\ndeadline: 1d"


async def test_a_formed_round_is_invoiced_checked_out_and_paid_once(paying: World) -> None:
    world = paying
    card = await world.leader.posts(BOXES)
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("5kg box", card)
    await bo.taps("10kg box", card)  # the round forms
    await world.settle()

    invoice = await invoice_of(world, ann)
    assert invoice["title"] == "Mangoes" and invoice["currency"] == "CNY"
    assert invoice["prices"] == [{"label": "5kg box × 1", "amount": 1250}]
    assert invoice["total_amount"] == 1250
    assert invoice["provider_token"] == PROVIDER_TOKEN
    assert len(invoice["payload"].encode()) <= 128
    assert (await invoice_of(world, bo))["total_amount"] == 2200
    # The invoice replaces "I've paid": no second way to pay the same order.
    labels = [
        t
        for m in world.api.bot_messages(ann.id)
        for t, _ in world.api.buttons(ann.id, m["message_id"])
    ]
    assert not any("I've paid" in label for label in labels)

    assert await checkout(world, ann, invoice) == {"ok": True, "error_message": None}
    forged = invoice["payload"][:-2] + ("AA" if not invoice["payload"].endswith("AA") else "BB")
    query = world.api.pre_checkout(ann.id, forged, "CNY", 1250)
    await world.api.wait_until(lambda: world.api.checkouts[query])
    assert world.api.checkouts[query][0]["ok"] is False

    # Telegram delivers the payment twice (a redelivered update and a second copy).
    args = (ann.id, invoice["payload"], "CNY", 1250, "charge-1")
    world.api.successful_payment(*args)
    world.api.successful_payment(*args)
    await world.api.wait_until(lambda: any("Thank you" in t for t in ann.private_texts()))
    await world.settle()
    assert sum("Thank you" in t for t in ann.private_texts()) == 1
    marks = await world.rows("SELECT order_id, mark, value, by_user FROM order_marks")
    assert marks == [(1, "paid", 1, ann.id)]
    charges = await world.rows(
        "SELECT telegram_payment_charge_id, provider_payment_charge_id FROM orders WHERE id = 1"
    )
    assert charges == [("tg-charge-1", "prov-charge-1")]

    # Paid once: a second checkout of the same invoice is refused.
    again = await checkout(world, ann, invoice)
    assert again["ok"] is False and "paid already" in again["error_message"]

    before = len(world.api.bot_messages(world.leader.id))
    await world.leader.says_and_hears("/summary")
    summary = "\n".join(world.leader.private_texts()[before:])
    assert "#1 Ann × 1 (5kg box) — ¥12.50" in summary
    ann_line = next(line for line in summary.splitlines() if "#1 Ann" in line)
    assert ann_line.endswith("💰 paid")
    assert "paid ¥12.50 · unpaid ¥22.00" in summary
    await world.leader.says_and_hears("/unpaid")
    unpaid = world.leader.private_texts()[-1]
    assert "Bo" in unpaid and "Ann" not in unpaid
    await world.leader.says_and_hears("/export 1")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    data = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    rows = {r["member_name"]: r for r in csv.DictReader(io.StringIO(data))}
    assert rows["Ann"]["paid"] == "yes" and rows["Ann"]["telegram_payment_charge_id"] == (
        "tg-charge-1"
    )
    assert rows["Bo"]["paid"] == "no" and rows["Bo"]["provider_payment_charge_id"] == ""


async def test_amounts_are_minor_units_of_each_currency(paying: World) -> None:
    world = paying
    assert "Saved" in await world.leader.says_and_hears("/settings currency JPY")
    card = await world.leader.posts("Rice\nprice: 1200\nmin: 2\ndeadline: 1d")
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", card)
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()
    invoice = await invoice_of(world, ann)
    assert invoice["currency"] == "JPY"
    # No minor unit in yen: 2 × ¥1200 is 2400, not 240000.
    assert invoice["total_amount"] == 2400
    assert invoice["prices"] == [{"label": "Rice × 2", "amount": 2400}]

    wrong_amount = await checkout(world, ann, invoice, total_amount=240000)
    assert wrong_amount["ok"] is False and "amount" in wrong_amount["error_message"]
    wrong_currency = await checkout(world, ann, invoice, currency="CNY")
    assert wrong_currency["ok"] is False
    assert (await checkout(world, ann, invoice))["ok"] is True
    # Someone else's invoice is not theirs to pay.
    assert (await checkout(world, bo, invoice))["ok"] is False


async def test_a_checkout_after_the_deal_was_cancelled_is_refused(paying: World) -> None:
    world = paying
    card = await world.leader.posts("Figs\nprice: 2\nmin: 2\ndeadline: 1d\nmode: tipping")
    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()
    await world.leader.says_and_hears("/close 1")
    await world.settle()
    invoice = await invoice_of(world, ann)
    assert invoice["total_amount"] == 200
    assert (await checkout(world, ann, invoice))["ok"] is True
    assert "cancelled" in await world.leader.says_and_hears("/cancel 1")
    await world.settle()
    answer = await checkout(world, ann, invoice)
    assert answer["ok"] is False
    assert "cancelled" in answer["error_message"]


async def test_invoices_need_a_provider_token(world: World) -> None:
    reply = await world.leader.says_and_hears("/settings pay invoice")
    assert "payment provider" in reply
    assert await world.rows("SELECT pay FROM groups") == [("off",)]
    assert "not a valid pay" in await world.leader.says_and_hears("/settings pay cash")
