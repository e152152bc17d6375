"""Two languages end to end: the group's setting for group texts, each user's own privately."""

from __future__ import annotations

from tests.conftest import World


async def test_a_chinese_group_gets_chinese_cards_and_notices(world: World) -> None:
    reply = await world.leader.says_and_hears("/settings lang zh")
    assert "已保存" in reply, "the settings answer itself is already Chinese"
    card = await world.leader.posts("芒果\n价格：12.5\n成团：2\n截止：2h")
    text = world.card(card)
    assert "第 1 团" in text and "¥12.50" in text
    ann, bo = world.member("Ann", lang="zh-hans"), world.member("Bo", lang="en")

    assert not any("Join" in label for label in world.labels(card)), "Chinese buttons"
    assert "已加入" in await ann.taps_data(card, "v1:join:1")  # her answer in her language
    assert "You're in" in await bo.taps_data(card, "v1:join:1")
    await world.settle()

    assert any("成团" in t for t in world.group_texts()[1:]), "the group notice is Chinese"
    assert any("你的订单已成团" in t for t in ann.private_texts())
    assert any("Your order is confirmed" in t for t in bo.private_texts()), "Bo reads English"


async def test_a_chinese_speaking_member_hears_chinese_privately(world: World) -> None:
    mei = world.member("Mei", lang="zh-CN")
    reply = await mei.says_and_hears("/start", chat_id=mei.id)
    assert "拼团" in reply and "Hi!" not in reply
    english = world.member("Em", lang="en-GB")
    assert "Hi!" in await english.says_and_hears("/start", chat_id=english.id)


async def test_an_invalid_time_zone_is_refused_and_a_member_cannot_change_settings(
    world: World,
) -> None:
    assert "not a valid tz" in await world.leader.says_and_hears("/settings tz Nowhere/Land")
    assert "Only the group's leaders" in await world.member("Ann").says_and_hears(
        "/settings lang zh"
    )
    group = await world.service.store.groups.get_group(-1001234567890)
    assert group is not None and (group.lang, group.tz) == ("en", "Asia/Shanghai")
