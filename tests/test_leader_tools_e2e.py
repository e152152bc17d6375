"""Leader tools end to end: summaries, the daily summary, CSV export, marks, /orders."""

from __future__ import annotations

import csv
import io
import re

import pytest

from bot.core.summary import as_text_cell
from tests.conftest import GROUP_ID, Person, World, private_button


async def a_busy_day(world: World) -> dict[str, Person]:
    """Two deals at 08:00: mangoes form rounds 1 and 2 and fail round 3; lychee tips."""
    await world.pass_time_until("08:00")
    world.leader.opens_private_chat()
    people = {n: world.member(n) for n in ("Ann", "Bo", "Cy", "Di", "Eve", "Fay")}
    mangoes = await world.leader.posts("Mangoes\nprice: 12.50\nmin: 2\ndeadline: 2h")
    lychee = await world.leader.posts("Lychee\nprice: 8\nmin: 2\ndeadline: 3h\nmode: tipping")
    for name in ("Ann", "Bo"):  # round 1 forms
        await people[name].taps("Join", mangoes)
    await people["Cy"].taps("Join", mangoes)
    await people["Cy"].taps("Join", mangoes)
    await people["Di"].taps("Join", mangoes)  # round 2 forms: Cy × 2, Di × 1
    await people["Eve"].taps("Join", mangoes)  # round 3 will fail
    await people["Ann"].taps("Join", lychee)
    for _ in range(3):
        await people["Fay"].taps("Join", lychee)
    await world.pass_time(3 * 3600 + 60)  # 11:01: everything closed
    return people


def without_codes(text: str) -> str:
    """A summary without its collection codes (random, so not part of the story)."""
    return re.sub(r"(?: ·)? \[?\b[A-Z0-9]{5}\b\]?", "", text)


async def leader_summary(world: World, command: str = "/summary") -> str:
    """Ask for a summary in the group; return everything the bot then sent privately."""
    leader = world.leader
    before = len(world.api.bot_messages(leader.id))
    reply = await leader.says_and_hears(command)
    assert "sent it to you privately" in reply
    return "\n".join(leader.private_texts()[before:])


async def test_a_day_with_two_deals_sums_up_exactly(world: World) -> None:
    await a_busy_day(world)

    text = await leader_summary(world)

    assert "Mangoes (deal #1, ¥12.50 each)" in text
    assert "Rounds formed: 1, 2 · failed: 1" in text
    assert "Units: 5 · Revenue: ¥62.50 · Paid: ¥0.00" in text
    assert "Lychee (deal #2, ¥8.00 each)" in text
    assert "Units: 4 · Revenue: ¥32.00" in text
    assert "Totals: 6 orders · 9 units · revenue ¥94.50 · paid ¥0.00 · unpaid ¥94.50" in text
    assert "Cy × 2 — ¥25.00" in text
    assert "Eve" not in text, "a failed round's order is not business"
    pickup = without_codes(text[text.index("Pickup list") :])
    assert pickup.index("Ann: Mangoes × 1, Lychee × 1") < pickup.index("Bo:") < pickup.index("Fay:")


async def test_yesterday_and_a_bad_day_are_understood(world: World) -> None:
    await a_busy_day(world)
    text = await leader_summary(world, "/summary yesterday")
    assert "No round formed this day." in text
    reply = await world.leader.says_and_hears("/summary someday")
    assert "is not a day I know" in reply


async def test_the_daily_summary_arrives_at_the_set_time_once(world: World) -> None:
    await a_busy_day(world)
    before = len(world.leader.private_texts())

    await world.pass_time_until("20:59")
    assert len(world.leader.private_texts()) == before
    await world.pass_time(120)  # 21:01
    await world.api.wait_until(lambda: len(world.leader.private_texts()) > before)
    await world.pass_time(600)

    summaries = [t for t in world.leader.private_texts()[before:] if t.startswith("📋 Summary")]
    assert len(summaries) == 1
    assert "revenue ¥94.50" in summaries[0]


async def test_export_is_a_csv_that_matches_the_store(world: World) -> None:
    await a_busy_day(world)
    reply = await world.leader.says_and_hears("/export")
    assert "privately" in reply
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    document = world.api.documents(world.leader.id)[-1]

    assert document["data"].startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(document["data"].decode("utf-8-sig"))))
    stored = await world.rows(
        "SELECT id, quantity, quantity * unit_price FROM orders WHERE status = 'confirmed'"
        " ORDER BY id"
    )
    assert sorted((int(r["order_id"]), int(r["quantity"])) for r in rows) == [
        (order_id, quantity) for order_id, quantity, _ in stored
    ]
    assert sum(int(r["amount"].replace(".", "")) for r in rows) == sum(a for _, _, a in stored)
    assert {r["deal_title"] for r in rows} == {"Mangoes", "Lychee"}
    assert rows[0]["currency"] == "CNY" and rows[0]["status"] == "confirmed"


async def test_export_of_one_deal_lists_every_order(world: World) -> None:
    await a_busy_day(world)
    await world.leader.says_and_hears("/export 1")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    data = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(data))]
    assert sorted(statuses) == ["cancelled"] + ["confirmed"] * 4


async def test_paid_and_collected_marks_show_in_the_next_summary(world: World) -> None:
    people = await a_busy_day(world)
    ann = people["Ann"]

    reply = await world.leader.says_and_hears("/paid 1")
    assert "Marked paid on 1 order" in reply
    reply = await world.leader.says_and_hears(f"/collected 2 {ann.id}")
    assert "Marked collected on 1 order" in reply
    assert "already" in await world.leader.says_and_hears("/paid 1")

    text = without_codes(await leader_summary(world))
    assert "#1 Ann × 1 — ¥12.50 · 💰 paid" in text
    assert "Paid: ¥12.50" in text
    assert "Lychee × 1 ✓" in text

    assert "Removed the paid mark" in await world.leader.says_and_hears("/paid 1 undo")
    history = await world.rows("SELECT order_id, mark, value FROM order_marks ORDER BY id")
    assert history[0] == (1, "paid", 1) and history[-1] == (1, "paid", 0)


async def test_mark_buttons_on_the_private_summary_toggle(world: World) -> None:
    await a_busy_day(world)
    await leader_summary(world)
    leader = world.leader
    panel = next(
        m for m in world.api.bot_messages(leader.id) if "tap to mark" in (m.get("text") or "")
    )
    first_paid = world.api.buttons(leader.id, panel["message_id"])[0]

    query = world.api.tap(leader.id, leader.id, panel["message_id"], str(first_paid[1]))
    answer = await world.api.wait_answer(query)

    assert answer["text"].endswith(": paid.")
    await world.api.wait_until(
        lambda: world.api.buttons(leader.id, panel["message_id"])[0][0].startswith("✅")
    )


async def test_a_member_cannot_read_summaries_exports_or_mark(world: World) -> None:
    people = await a_busy_day(world)
    bo = people["Bo"]
    for command in ("/summary", "/export", "/paid 1", "/collected 1"):
        reply = await bo.says_and_hears(command)
        assert "Only the group's leaders" in reply, command
    reply = await bo.says_and_hears("/summary", chat_id=bo.id)
    assert "Only the group's leaders" in reply
    assert world.api.documents(bo.id) == []


async def test_orders_are_answered_privately(world: World) -> None:
    people = await a_busy_day(world)
    cy = people["Cy"]

    reply = await cy.says_and_hears("/orders")

    assert "privately" in reply
    mine = cy.private_texts()[-1]
    assert "Your orders" in mine
    assert "Mangoes (Mango lovers) — round 2, 2 × ¥12.50 = ¥25.00 — ✅ confirmed" in mine
    assert "Ann" not in mine


async def test_orders_for_a_member_without_a_private_chat_offer_a_button(world: World) -> None:
    shy = world.member("Shy", started=False)
    since = len(world.api.requests)
    shy.says("/orders")
    sent = await world.api.wait_for(
        "sendMessage", since=since, where=lambda r: r.params.get("chat_id") == GROUP_ID
    )
    assert "can't message you privately" in world.visible(sent.params)
    button = sent.params["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == "https://t.me/groupbuy_test_bot?start=orders"


async def test_export_cells_that_a_spreadsheet_would_run_as_formulas_stay_text(
    world: World,
) -> None:
    world.leader.opens_private_chat()
    await world.leader.says_and_hears("/settings pickup @SUM(1); North gate")
    card = await world.leader.posts(
        "+1\noptions: -2 box 2.00 x5; =1+1 box 3.00 x5\nmin: 2\ndeadline: 1d"
    )
    ann, bo = world.member('=HYPERLINK("x")'), world.member("-Bo")
    await ann.taps("-2 box", card)
    await world.settle()
    message, data = private_button(world, ann, "@SUM(1)")
    await ann.taps_data(message, data, chat_id=ann.id)
    await bo.taps("=1+1 box", card)  # the round forms
    await world.settle()
    await world.leader.says_and_hears("/export")
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    exported = world.api.documents(world.leader.id)[-1]["data"].decode("utf-8-sig")
    rows = {r["member_name"]: r for r in csv.DictReader(io.StringIO(exported))}

    assert set(rows) == {'\'=HYPERLINK("x")', "'-Bo"}
    first = rows['\'=HYPERLINK("x")']
    assert (first["deal_title"], first["option"], first["pickup_point"]) == (
        "'+1",
        "'-2 box",
        "'@SUM(1)",
    )
    assert rows["'-Bo"]["option"] == "'=1+1 box"
    assert first["amount"] == "2.00" and first["group_id"] == str(GROUP_ID), "numbers stay numbers"
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or cell == str(GROUP_ID), cell


@pytest.mark.parametrize(
    ("typed", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2 box", "'-2 box"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Mangoes = good", "Mangoes = good"),
        ("", ""),
    ],
)
def test_a_typed_export_cell_that_starts_a_formula_is_marked_as_text(typed: str, cell: str) -> None:
    assert as_text_cell(typed) == cell
