"""Post again: /repost copies a past deal as a new one, here or in another group the
leader leads; /deals past lists the group's last deals to pick from."""

from __future__ import annotations

from tests.conftest import GROUP_ID, Person, World

OTHER_GROUP = -1009876543210
MANGOES = """Alphonso mangoes, 5 kg box
Sweet, from Ratnagiri.
price: 12.50
min: 3
deadline: 2h
stock: 10
limit: 2
mode: tipping
note: Pickup Saturday at the clubhouse"""


async def deal_rows(world: World) -> list[tuple[object, ...]]:
    return await world.rows(
        "SELECT id, chat_id, leader_id, title, description, price, min_members, stock,"
        " member_limit, note, mode, deadline - created_at FROM deals ORDER BY id"
    )


async def reposts(person: Person, text: str, chat_id: int = GROUP_ID) -> int:
    """Send /repost and return the new card's message id."""
    api = person.api
    since = len(api.requests)
    person.says(text, chat_id)
    sent = await api.wait_for(
        "sendMessage",
        since=since,
        where=lambda r: r.params.get("chat_id") == chat_id and "reply_markup" in r.params,
    )
    assert sent.status == 200, sent
    return int(api.bot_messages(chat_id)[-1]["message_id"])


async def test_a_repost_without_overrides_is_the_same_deal_again(world: World) -> None:
    first = await world.leader.posts(MANGOES)
    await world.member("Ann").taps("Join", first)
    card = await reposts(world.leader, "/repost 1", GROUP_ID)

    assert card != first
    old, new = await deal_rows(world)
    assert new[0] == 2 and old[1:] == new[1:], "every value copied, the deadline 2h out again"
    text = world.card(card)
    assert text.startswith("Alphonso mangoes, 5 kg box\nSweet, from Ratnagiri.")
    assert "deal #2" in text and "Stock left: 10 of 10" in text and "Ann" not in text
    assert "1h 59m left" in text or "2h 0m left" in text
    assert any("Join" in label for label in world.labels(card))
    assert "Ann" in world.card(first), "the old deal is untouched"


async def test_a_repost_with_overrides_replaces_those_values(world: World) -> None:
    await world.leader.posts(MANGOES)
    card = await reposts(world.leader, "/repost #1 3h 40 price=11 limit=5", GROUP_ID)

    _, new = await deal_rows(world)
    assert new[5:9] == (1100, 3, 40, 5) and new[11] == 3 * 3600
    text = world.card(card)
    assert "¥11.00" in text and "Stock left: 40 of 40" in text and "Limit: 5 per member" in text


async def test_a_repost_keeps_options_pickup_points_and_the_photo(world: World) -> None:
    await world.leader.says_and_hears("/settings pickup Clubhouse; North gate; South gate")
    since = len(world.api.requests)
    world.api.send_photo(
        GROUP_ID,
        world.leader.id,
        caption="/deal Durian\nmin: 2\ndeadline: 1d\n"
        "options: small 30 x5; big 55\npickup: North gate; South gate",
    )
    first = await world.api.wait_for("sendPhoto", since=since, chat_id=GROUP_ID)
    photo = first.params["photo"]

    since = len(world.api.requests)
    world.leader.says("/repost 1 start=30m")
    sent = await world.api.wait_for("sendPhoto", since=since, chat_id=GROUP_ID)
    assert sent.params["photo"] == photo, "the same photo"
    caption = world.visible(sent.params)
    assert "small" in caption and "big" in caption and "North gate, South gate" in caption
    assert "Opens at" in caption, "a start given on the command line makes it a timed sale"
    assert await world.rows(
        "SELECT deal_id, name, price, stock FROM deal_options ORDER BY deal_id, position"
    ) == [
        (1, "small", 3000, 5),
        (1, "big", 5500, None),
        (2, "small", 3000, 5),
        (2, "big", 5500, None),
    ]
    assert await world.rows(
        "SELECT dp.deal_id, p.name FROM deal_pickups dp JOIN pickup_points p ON p.id = dp.pickup_id"
        " ORDER BY dp.deal_id, p.id"
    ) == [(1, "North gate"), (1, "South gate"), (2, "North gate"), (2, "South gate")]
    starts, created, deadline = (
        await world.rows("SELECT starts_at, created_at, deadline FROM deals WHERE id = 2")
    )[0]
    assert starts - created in (1800, 1801) and deadline - starts == 86400


async def test_a_repost_into_another_group_the_leader_leads(world: World) -> None:
    await world.leader.posts(MANGOES)
    world.api.group(OTHER_GROUP, "Mango lovers north", creator=world.leader.user)
    card = await reposts(world.leader, "/repost 1 1d", OTHER_GROUP)

    assert "Alphonso mangoes" in world.card(card, chat_id=OTHER_GROUP)
    assert await world.rows("SELECT id, chat_id FROM deals ORDER BY id") == [
        (1, GROUP_ID),
        (2, OTHER_GROUP),
    ]
    assert len(world.api.bot_messages(GROUP_ID)) == 1, "nothing more in the first group"


async def test_a_repost_is_refused_to_a_member_and_for_a_group_not_led(world: World) -> None:
    await world.leader.posts(MANGOES)
    ann = world.member("Ann")
    assert "Only the group's leaders" in await ann.says_and_hears("/repost 1")

    olga = Person(world, world.api.user(1002, "Olga", username="olga"))
    world.api.group(OTHER_GROUP, "Olga's group", creator=olga.user)
    await olga.posts("Olga's lychee\nprice: 8\nmin: 2\ndeadline: 1d", chat_id=OTHER_GROUP)
    # Lena leads her group, not Olga's: Olga's deal is not hers to copy.
    answer = await world.leader.says_and_hears("/repost 2")
    assert answer == "There is no deal #2 in a group you lead."
    # Nor may Olga copy Lena's deal into her group.
    answer = await olga.says_and_hears("/repost 1", chat_id=OTHER_GROUP)
    assert answer == "There is no deal #1 in a group you lead."
    assert await world.rows("SELECT count(*) FROM deals") == [(2,)]


async def test_a_bad_repost_names_the_field_and_posts_nothing(world: World) -> None:
    await world.leader.posts(MANGOES)
    answer = await world.leader.says_and_hears("/repost 1 soon")
    assert "deadline: I can't read “soon” as a date, time or duration." in answer
    assert "Example: /repost 1 2d 40 price=12.50" in answer
    answer = await world.leader.says_and_hears("/repost 1 2h 2")
    assert "stock (2) is less than min (3)" in answer
    answer = await world.leader.says_and_hears("/repost 1 colour=red")
    assert "colour is not a field I know" in answer
    usage = await world.leader.says_and_hears("/repost")
    assert "/repost <deal> [deadline] [stock]" in usage
    assert "/repost 12 2d 40" in await world.leader.says_and_hears("/repost mangoes")
    assert "There is no deal #99 in a group you lead." == await world.leader.says_and_hears(
        "/repost 99"
    )
    assert await world.rows("SELECT count(*) FROM deals") == [(1,)]


async def test_a_chinese_group_reposts_and_hears_errors_in_chinese(world: World) -> None:
    assert "已保存" in await world.leader.says_and_hears("/settings lang zh")
    await world.leader.posts("芒果\n价格：12.5\n成团：2\n截止：1天")
    answer = await world.leader.says_and_hears("/repost 1 2天 价格=很便宜")
    assert "价格：“很便宜”不是有效的金额。" in answer
    assert "示例：/repost 1 2天 40 价格=12.50" in answer
    card = await reposts(world.leader, "/repost 1 2天 30 价格=11", GROUP_ID)
    text = world.card(card)
    assert "每份 ¥11.00" in text and "剩余库存：30 / 30" in text
    past = await world.leader.says_and_hears("/deals 历史")
    assert past.startswith("最近的团购")
    assert "#2 芒果 — 进行中" in past and "#1 芒果 — 进行中" in past


async def test_deals_past_lists_the_last_20_newest_first(world: World) -> None:
    for n in range(1, 23):
        await world.leader.posts(f"Deal {n} price=1 min=1 deadline=1d")
    assert await world.leader.says_and_hears("/close 22") == "Deal #22 is closed."
    assert "is cancelled" in await world.leader.says_and_hears("/cancel 21")
    await world.settle()

    past = await world.member("Ann").says_and_hears("/deals past")
    lines = past.split("\n")
    assert lines[0] == "Latest deals (post one again with /repost <deal>)"
    assert len(lines) == 21
    assert lines[1].startswith("#22 Deal 22 — closed, ")
    assert lines[2].startswith("#21 Deal 21 — cancelled, ")
    assert lines[3].startswith("#20 Deal 20 — open, ")
    assert lines[20].startswith("#3 Deal 3 — open, ")
    day = world.service.texts.env.filters["local_time"](
        world.clock.timestamp(), "Asia/Shanghai", "date"
    )
    assert lines[1].endswith(day)
    assert "/deals past" in await world.leader.says_and_hears("/deals tomorrow")
