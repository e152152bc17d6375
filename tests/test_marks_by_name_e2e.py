"""Marking a member's orders by name (/paid @ann, /collected Ann): with one deal the bot
marks at once and says what, with an Undo; with several it asks which, a button per deal;
a name that fits nobody or several, or a sender who leads nothing, is told and changes
nothing."""

from __future__ import annotations

from tests.conftest import GROUP_ID, Person, World

OTHER_GROUP = -1009876543210


async def formed(world: World, title: str, *people: Person, chat_id: int = GROUP_ID) -> int:
    """A deal whose round of these people formed (their orders are confirmed); its card."""
    card = await world.leader.posts(
        f"{title}\nprice: 10\nmin: {len(people)}\ndeadline: 1d", chat_id=chat_id
    )
    for person in people:
        await person.taps("+1", card, chat_id=chat_id)  # Join, in either language
    await world.settle()
    return card


async def command(
    world: World, person: Person, text: str, chat_id: int = GROUP_ID
) -> tuple[str, int]:
    """Send a command; the bot's reply as seen, and its message id (to tap its buttons)."""
    since = len(world.api.requests)
    person.says(text, chat_id)
    sent = await world.api.wait_for(
        "sendMessage", since=since, where=lambda r: r.params.get("chat_id") == chat_id
    )
    return world.visible(sent.params), int(sent.result["message_id"])


async def shows(world: World, message_id: int, start: str, chat_id: int = GROUP_ID) -> str:
    """The message's text once the bot has edited it to start so."""
    await world.api.wait_until(lambda: world.card(message_id, chat_id).startswith(start))
    return world.card(message_id, chat_id)


async def marked(world: World, mark: str = "paid") -> list[int]:
    """The orders that carry the mark now."""
    rows = await world.rows(f"SELECT id FROM orders WHERE {mark}_at IS NOT NULL ORDER BY id")
    return [order_id for (order_id,) in rows]


def someone(world: World, user_id: int, first: str, last: str, username: str) -> Person:
    """A member with a last name and a username of their own choosing."""
    return Person(world, world.api.user(user_id, first, last_name=last, username=username))


async def test_one_deal_is_marked_at_once_and_undo_takes_off_exactly_that(world: World) -> None:
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    card = await world.leader.posts("Mangoes\nprice: 10\nmin: 2\ndeadline: 1d")
    for person in (ann, bo, ann, cy):  # round 1: Ann #1, Bo #2; round 2: Ann #3, Cy #4
        await person.taps("Join", card)
    await world.settle()
    assert "Marked paid on 1 order" in await world.leader.says_and_hears("/paid 1")

    text, reply = await command(world, world.leader, "/paid @ann")

    assert text == "✅ Ann: 1 order in deal #1 Mangoes marked paid."
    assert world.labels(reply) == ["↩️ Undo"]
    assert await marked(world) == [1, 3]
    undo = world.button(GROUP_ID, reply, "Undo")
    assert await world.leader.taps_data(reply, undo) == "Undone: 1 order no longer marked paid."
    edited = await shows(world, reply, "↩️")
    assert edited == "↩️ Ann: undone. 1 order in deal #1 Mangoes no longer marked paid."
    assert world.labels(reply) == []
    assert await marked(world) == [1], "the mark set by order number stays"

    again = await world.leader.taps_data(reply, undo)  # Telegram delivers the tap again
    assert again == "Nothing to undo: these marks were taken off already, or set again since."
    assert await marked(world) == [1]
    assert "✅ Ann: 1 order" in (await command(world, world.leader, "/paid @ann"))[0]
    assert await world.leader.taps_data(reply, undo) == again, "marked again since: it stays"
    assert await marked(world) == [1, 3]
    history = await world.rows("SELECT order_id, value FROM order_marks ORDER BY id")
    assert history == [(1, 1), (3, 1), (3, 0), (3, 1)]


async def test_several_deals_get_a_button_each_and_a_tap_marks_that_deal(world: World) -> None:
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await formed(world, "Mangoes", ann, bo)  # deal #1: Ann's order #1
    await formed(world, "Lychee", ann, cy)  # deal #2: Ann's order #3

    text, reply = await command(world, world.leader, "/paid @ann")

    assert text == (
        "Ann has confirmed orders not yet marked paid in 2 deals. Tap a deal to mark them:"
    )
    assert world.labels(reply) == ["#1 Mangoes (1)", "#2 Lychee (1)"]
    assert await marked(world) == []
    lychee = world.button(GROUP_ID, reply, "#2 Lychee")
    assert await world.leader.taps_data(reply, lychee) == "Marked paid: 1 order of Ann in deal #2."
    assert await shows(world, reply, "✅") == "✅ Ann: 1 order in deal #2 Lychee marked paid."
    assert world.labels(reply) == ["↩️ Undo"]
    assert await marked(world) == [3]

    again = await world.leader.taps_data(reply, lychee)  # delivered twice
    assert again == (
        "Nothing to mark: every confirmed order of Ann in deal #2 is marked paid already."
    )
    assert await world.rows("SELECT count(*) FROM order_marks") == [(1,)]
    text, _ = await command(world, world.leader, "/paid @ann")  # one deal left: marked at once
    assert text == "✅ Ann: 1 order in deal #1 Mangoes marked paid."
    assert await marked(world) == [1, 3]


async def test_a_name_without_at_names_the_one_member_called_so(world: World) -> None:
    alice, bo = world.member("Alice"), world.member("Bo")
    mei = someone(world, 9101, "Mei", "Lin", "mei_l")
    await formed(world, "Mangoes", alice, bo, mei)

    # Five letters: it might be a collection code; no order has it, so it is a name.
    text, _ = await command(world, world.leader, "/collected alice")
    assert text == "✅ Alice: 1 order in deal #1 Mangoes marked collected."
    text, _ = await command(world, world.leader, "/collected mei lin")
    assert text == "✅ Mei Lin: 1 order in deal #1 Mangoes marked collected."
    rows = await world.rows("SELECT user_id FROM orders WHERE collected_at IS NOT NULL")
    assert sorted(user_id for (user_id,) in rows) == sorted([alice.id, mei.id])
    assert await marked(world) == [], "collected, not paid"


async def test_a_name_that_fits_nobody_or_several_is_told_and_marks_nothing(
    world: World,
) -> None:
    lee = someone(world, 9201, "Ann", "Lee", "annlee")
    wu = someone(world, 9202, "Ann", "Wu", "annwu")
    await formed(world, "Mangoes", lee, wu)

    several = await world.leader.says_and_hears("/paid Ann")
    assert several.startswith("2 members are called Ann:")
    assert "• Ann Lee: /paid @annlee" in several and "• Ann Wu: /paid @annwu" in several
    nobody = await world.leader.says_and_hears("/paid Zed")
    assert nobody.startswith("Nobody called Zed has ordered in this group's deals.")
    assert "/paid @ann" in nobody, "it says how to name a member"
    unknown = await world.leader.says_and_hears("/paid @zed")
    assert "I don't know the member @zed yet" in unknown
    undo = await world.leader.says_and_hears("/paid @annlee undo")
    assert "tap ↩️ Undo under my reply" in undo
    assert await world.rows("SELECT count(*) FROM order_marks") == [(0,)]

    assert "✅ Ann Lee: 1 order" in await world.leader.says_and_hears("/paid @annlee")
    nothing = await world.leader.says_and_hears("/paid @annlee")
    assert nothing == (
        "Ann Lee has no confirmed order in this group's deals that is not yet marked paid."
    )
    assert await world.rows("SELECT count(*) FROM order_marks") == [(1,)]


async def test_only_leaders_mark_by_name_or_tap_its_buttons(world: World) -> None:
    ann, bo = world.member("Ann"), world.member("Bo")
    await formed(world, "Mangoes", ann, bo)
    await formed(world, "Lychee", ann, bo)

    assert "Only the group's leaders" in await bo.says_and_hears("/paid @ann")
    assert "Only the group's leaders" in await bo.says_and_hears("/paid Ann", chat_id=bo.id)
    _, reply = await command(world, world.leader, "/paid @ann")
    mangoes = world.button(GROUP_ID, reply, "#1 Mangoes")
    assert await bo.taps_data(reply, mangoes) == "Only the group's leaders can do that."
    assert await marked(world) == []
    await world.leader.taps_data(reply, mangoes)
    await shows(world, reply, "✅")
    undo = world.button(GROUP_ID, reply, "Undo")
    assert await bo.taps_data(reply, undo) == "Only the group's leaders can do that."
    assert await marked(world) == [1]


async def test_privately_a_leader_marks_by_name_across_the_groups_they_lead(
    world: World,
) -> None:
    leader = world.leader
    leader.opens_private_chat()
    world.api.group(OTHER_GROUP, "Lychee friends", creator=leader.user, admins=[])
    ann, bo = world.member("Ann"), world.member("Bo")
    await formed(world, "Mangoes", ann, bo)
    await formed(world, "Lychee", ann, bo, chat_id=OTHER_GROUP)

    text, reply = await command(world, leader, "/paid ann", chat_id=leader.id)

    assert text.startswith("Ann has confirmed orders not yet marked paid in 2 deals.")
    assert world.labels(reply, leader.id) == ["#1 Mangoes (1)", "#2 Lychee (1)"]
    lychee = world.button(leader.id, reply, "#2 Lychee")
    assert await leader.taps_data(reply, lychee, leader.id) == (
        "Marked paid: 1 order of Ann in deal #2."
    )
    await shows(world, reply, "✅", leader.id)
    undo = world.button(leader.id, reply, "Undo")
    assert await leader.taps_data(reply, undo, leader.id) == (
        "Undone: 1 order no longer marked paid."
    )
    assert await marked(world) == []
    # The other group's deal button, forged under a message in this group, counts nowhere.
    _, here = await command(world, leader, "/paid @bo")
    assert (await leader.taps_data(here, lychee)).startswith("This button is out of date.")
    assert await marked(world) == [2]


async def test_marking_by_name_speaks_chinese_in_a_chinese_group(world: World) -> None:
    assert "已保存" in await world.leader.says_and_hears("/settings lang zh")
    ann, bo = world.member("Ann"), world.member("Bo")
    await formed(world, "Mangoes", ann, bo)

    nobody = await world.leader.says_and_hears("/paid Zed")
    assert nobody.startswith("本群的团购里没有叫 Zed 的人下过单。")
    text, reply = await command(world, world.leader, "/paid @ann")
    assert text == "✅ Ann：团购 #1 Mangoes 中的 1 笔订单已标记为“已付款”。"
    assert world.labels(reply) == ["↩️ 撤销"]
    undo = world.button(GROUP_ID, reply, "撤销")
    # The tap's answer speaks the leader's language; the group's message the group's.
    assert await world.leader.taps_data(reply, undo) == "Undone: 1 order no longer marked paid."
    edited = await shows(world, reply, "↩️")
    assert edited == "↩️ Ann：已撤销。团购 #1 Mangoes 中的 1 笔订单不再标记为“已付款”。"
    assert await marked(world) == []


async def test_a_long_name_in_a_button_answer_is_cut_to_what_telegram_takes(
    world: World,
) -> None:
    """Telegram names run to 64 + 64 characters: the answer that names the member is cut
    to Telegram's 200 characters rather than refused (the fake API refuses longer)."""
    long = someone(world, 7001, "A" * 64, "B" * 64, "longname")
    bo, cy = world.member("Bo"), world.member("Cy")
    await formed(world, "Mangoes", long, bo)
    await formed(world, "Lychee", long, cy)
    _, reply = await command(world, world.leader, "/paid @longname")
    lychee = world.button(GROUP_ID, reply, "#2 Lychee")
    answer = await world.leader.taps_data(reply, lychee)
    assert answer.startswith("Marked paid: 1 order of AAAA") and len(answer) <= 200
    assert await marked(world) == [3]
    again = await world.leader.taps_data(reply, lychee)
    assert again.startswith("Nothing to mark") and len(again) == 200 and again.endswith("…")
