"""The core loop end to end: the real bot, over real HTTP, against the fake Bot API."""

from __future__ import annotations

from tests.conftest import GROUP_ID, World

MANGOES = """Alphonso mangoes, 5 kg box
price: 12.50
min: 3
deadline: 2h
stock: 10
limit: 2
note: Pickup Saturday 10:00-12:00 at the clubhouse"""


async def test_leader_posts_a_deal_and_the_card_shows_it(world: World) -> None:
    card = await world.leader.posts(MANGOES)

    text = world.card(card)
    assert "Alphonso mangoes, 5 kg box" in text
    assert "¥12.50" in text
    assert "Round 1: ▱▱▱▱▱▱▱▱▱▱ 0/3" in text
    assert "Stock left: 10 of 10" in text
    assert "Limit: 2 per member" in text
    assert "Pickup Saturday" in text
    assert "1h 59m left" in text or "2h 0m left" in text
    assert [label.split()[-1] for label in world.labels(card)] == ["+1", "Leave", "Invite", "Share"]


async def test_round_forms_when_third_member_joins(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")

    assert (
        await ann.taps("Join", card) == "You're in: 1 × Alphonso mangoes, 5 kg box — round 1, 1/3"
    )
    assert await bo.taps("Join", card) == "You're in: 1 × Alphonso mangoes, 5 kg box — round 1, 2/3"
    answer = await cy.taps("Join", card)
    await world.settle()

    assert "Round 1 formed" in answer
    assert any("round 1 formed with 3 members" in t for t in world.group_texts())
    for person in (ann, bo, cy):
        assert any("Your order is confirmed: 1 × Alphonso" in t for t in person.private_texts())
    text = world.card(card)
    assert "Rounds formed: 1" in text
    assert "Round 2: ▱▱▱▱▱▱▱▱▱▱ 0/3" in text
    assert "Stock left: 7 of 10" in text


async def test_further_taps_add_units_up_to_the_limit(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann = world.member("Ann")

    assert "1 × " in await ann.taps("Join", card)
    assert "2 × " in await ann.taps("Join", card)
    assert await ann.taps("Join", card) == "Limit is 2 per member."
    await world.settle()
    assert "1. Ann × 2" in world.card(card)
    assert "Stock left: 8 of 10" in world.card(card)


async def test_leave_releases_stock_for_the_next_member(world: World) -> None:
    card = await world.leader.posts("Durian\nprice: 30\nmin: 2\ndeadline: 1d\nstock: 2")
    ann, bo = world.member("Ann"), world.member("Bo")

    await ann.taps("Join", card)
    await ann.taps("Join", card)
    assert await bo.taps("Join", card) == "Sold out."
    assert "2 units released" in await ann.taps("Leave", card)
    assert "You're in" in await bo.taps("Join", card)
    assert await ann.taps("Leave", card) == "You have no order in the open round."
    await world.settle()
    text = world.card(card)
    assert "Bo × 1" in text and "Ann" not in text
    assert "Stock left: 1 of 2" in text


async def test_round_fails_at_the_deadline_and_members_are_told(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann = world.member("Ann")
    await ann.taps("Join", card)

    await world.pass_time(2 * 3600 + 5)

    assert any("not enough people joined (1/3)" in t for t in world.group_texts())
    assert any("is cancelled: not enough people joined" in t for t in ann.private_texts())
    assert "Closed — not enough people joined" in world.card(card)
    assert world.labels(card) == []
    assert await ann.taps_data(card, "v1:join:1") == "This deal has closed."


async def test_tipping_deal_is_on_at_min_and_confirmed_at_the_deadline(world: World) -> None:
    card = await world.leader.posts("Lychee\nprice: 8\nmin: 2\ndeadline: 3h\nmode: 接龙")
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")

    await ann.taps("Join", card)
    await bo.taps("Join", card)
    await world.settle()
    assert any("reached 2 members — the deal is on" in t for t in world.group_texts())
    assert "You're in" in await cy.taps("Join", card)

    await world.pass_time(3 * 3600 + 1)

    assert any("the deal is confirmed with 3 members" in t for t in world.group_texts())
    for person in (ann, bo, cy):
        assert any("Your order is confirmed" in t for t in person.private_texts())
    assert "Closed — 1 round formed" in world.card(card)


async def test_leader_closes_early_with_confirm(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann = world.member("Ann")
    await ann.taps("Join", card)

    world.leader.says("/close 1 confirm")
    await world.api.wait_until(lambda: "Closed" in world.card(card))
    await world.settle()

    assert any("Your order is confirmed" in t for t in ann.private_texts())
    assert world.labels(card) == []


async def test_leader_cancels_a_deal_and_every_member_is_told(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann, bo, cy, di = (world.member(n) for n in ("Ann", "Bo", "Cy", "Di"))
    for person in (ann, bo, cy):  # round 1 forms: these orders are confirmed
        await person.taps("Join", card)
    await di.taps("Join", card)  # round 2, pending
    await world.settle()  # round 1's announcement is out before the leader speaks

    reply = await world.leader.says_and_hears("/cancel 1")
    await world.settle()

    assert "cancelled" in reply
    for person in (ann, bo, cy, di):
        assert any("the leader cancelled the deal" in t for t in person.private_texts())
    assert "Cancelled by the leader" in world.card(card)
    assert world.labels(card) == []


async def test_a_member_cannot_post_close_or_cancel(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    mallory = world.member("Mallory")

    for command in (f"/deal {MANGOES}", "/close 1 confirm", "/cancel 1"):
        reply = await mallory.says_and_hears(command)
        assert "Only the group's leaders can do that" in reply
    assert len(await world.service.store.deals.all_open_deals()) == 1
    assert "Round 1" in world.card(card)


async def test_a_bad_form_is_answered_and_nothing_is_stored(world: World) -> None:
    reply = await world.leader.says_and_hears("/deal Mangoes\nprice: abc\nmin: 3\ndeadline: 2h")

    assert "price" in reply.lower()
    assert "/deal" in reply  # a correct example comes with it
    assert await world.service.store.deals.all_open_deals() == []
    assert not any("reply_markup" in r.params for r in world.api.calls("sendMessage"))


async def test_deal_without_arguments_shows_usage(world: World) -> None:
    reply = await world.leader.says_and_hears("/deal")
    assert "price" in reply and "deadline" in reply


async def test_one_line_form_and_addressed_command_work(world: World) -> None:
    card = await world.leader.posts("Mangoes 5kg price=12.5 min=10 deadline=2h")
    assert "Mangoes 5kg" in world.card(card)
    assert "0/10" in world.card(card)


async def test_a_photo_deal_posts_a_photo_card(world: World) -> None:
    since = len(world.api.requests)
    world.api.send_photo(GROUP_ID, world.leader.id, caption=f"/deal@groupbuy_test_bot {MANGOES}")
    sent = await world.api.wait_for("sendPhoto", since=since)
    assert "Alphonso" in world.visible(sent.params)
    card = world.api.bot_messages(GROUP_ID)[-1]["message_id"]

    await world.member("Ann").taps("Join", card)
    await world.settle()
    assert "1. Ann × 1" in world.card(card)


async def test_user_text_is_escaped_in_the_card(world: World) -> None:
    card = await world.leader.posts(
        "<b>Mangoes</b> & *stars* _under_\nprice: 1\nmin: 2\ndeadline: 2h\nnote: a < b > c"
    )
    ann = world.api.user(3001, "<i>Ann</i> & co")
    world.api.started_users.add(3001)
    world.api.tap(GROUP_ID, 3001, card, world.button(GROUP_ID, card, "Join"))
    await world.api.wait_until(lambda: "Ann" in world.card(card))

    text = world.card(card)
    assert "<b>Mangoes</b> & *stars* _under_" in text
    assert "a < b > c" in text
    assert "<i>Ann</i> & co × 1" in text
    assert ann["id"] == 3001


async def test_members_who_never_started_the_bot_are_skipped(world: World) -> None:
    card = await world.leader.posts("Kiwi\nprice: 3\nmin: 2\ndeadline: 2h")
    shy = world.member("Shy", started=False)
    ann = world.member("Ann")

    await shy.taps("Join", card)
    await ann.taps("Join", card)
    await world.settle()

    assert shy.private_texts() == []
    assert any("Your order is confirmed" in t for t in ann.private_texts())
    forbidden = [r for r in world.api.calls("sendMessage", chat_id=shy.id) if r.status == 403]
    assert forbidden, "the bot did try, and Telegram said 403"


async def test_stale_and_forged_buttons_change_nothing(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    ann = world.member("Ann")
    for data in (
        "v1:join:999",
        "v1:join:1:extra",
        "v0:join:1",
        "garbage",
        "v1:join:-1",
        "v1:nuke:1",
    ):
        query = world.api.tap(GROUP_ID, ann.id, card, data)
        answer = await world.api.wait_answer(query)
        assert "out of date" in answer["text"]
    view = await world.service.store.deals.deal_view(1)
    assert view is not None and view.lines == []


async def test_deals_lists_open_deals_with_links(world: World) -> None:
    await world.leader.posts(MANGOES)
    await world.leader.posts("Kiwi\nprice: 3\nmin: 2\ndeadline: 1h")

    reply = await world.member("Ann").says_and_hears("/deals")

    assert "Kiwi" in reply and "Alphonso" in reply
    assert reply.index("Kiwi") < reply.index("Alphonso")  # soonest deadline first


async def test_reminder_before_the_deadline_says_how_many_are_missing(world: World) -> None:
    card = await world.leader.posts(MANGOES)
    await world.member("Ann").taps("Join", card)

    await world.pass_time(3600 + 5)  # just under an hour left
    await world.api.wait_until(lambda: any("more needed" in t for t in world.group_texts()))

    reminders = [t for t in world.group_texts() if "more needed" in t]
    assert reminders == ["⏳ Alphonso mangoes, 5 kg box: 2 more needed, 59 min left."]
