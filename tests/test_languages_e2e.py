"""Two languages end to end: the group's setting for group texts, each user's own privately."""

from __future__ import annotations

import re

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


# -- four languages, each person in their own (issue: languages on catalogs) ---------------


async def test_a_russian_member_of_an_english_group_reads_russian_privately(world: World) -> None:
    card = await world.leader.posts("Mango\nprice: 1234.5\nmin: 2\ndeadline: 2h")
    ivan, bo = world.member("Ivan", lang="ru"), world.member("Bo", lang="en")
    await ivan.taps_data(card, "v1:join:1")
    await bo.taps_data(card, "v1:join:1")
    await world.settle()

    confirmation = next(t for t in ivan.private_texts() if "1\u00a0234,50\u00a0¥" in t)
    assert "Ваш заказ подтверждён" in confirmation, "his own language, his locale's money"
    assert any("Your order is confirmed" in t for t in bo.private_texts())
    assert any("round 1 formed with 2 members" in t for t in world.group_texts())
    assert not any(re.search("[а-яА-Я]", t) for t in world.group_texts()), "the group: English"


async def test_lang_overrides_telegram_and_the_group_language_is_the_fallback(
    world: World,
) -> None:
    await world.leader.says_and_hears("/settings lang 繁體中文")
    group = await world.service.store.groups.get_group(-1001234567890)
    assert group is not None and group.lang == "zh-Hant"
    card = await world.leader.posts("Mango\nprice: 12.5\nmin: 1\ndeadline: 2h")
    # Telegram in a language the bot does not speak: the group's language privately.
    hans = world.member("Hans", lang="de")
    mei = world.member("Mei", lang="en")
    reply = await mei.says_and_hears("/lang zh-Hant", chat_id=mei.id)
    assert "繁體中文" in reply and "之後" in reply, "the answer is already in her choice"
    await hans.taps_data(card, "v1:join:1")
    await mei.taps_data(card, "v1:join:1")
    await world.settle()
    assert any("你的訂單已成團" in t for t in mei.private_texts()), "her choice over Telegram's"
    assert any("你的訂單已成團" in t for t in hans.private_texts()), "the group's language"
    menu = world.api.menu({"type": "chat", "chat_id": mei.id})
    assert "orders" in menu, "her private menu follows her choice"

    assert "English" in await mei.says_and_hears("/lang auto", chat_id=mei.id)
    assert "/lang en" in await mei.says_and_hears("/lang", chat_id=mei.id)
    assert not world.api.menu({"type": "chat", "chat_id": mei.id}), "Telegram's menus again"
    stored = await world.service.store.groups.get_member(mei.id)
    assert stored is not None and stored.lang is None


async def test_lang_refuses_a_language_it_does_not_speak_and_points_groups_to_private(
    world: World,
) -> None:
    ann = world.member("Ann", lang="en")
    assert "is not a language I speak" in await ann.says_and_hears("/lang klingon", chat_id=ann.id)
    stored = await world.service.store.groups.get_member(ann.id)
    assert stored is None or stored.lang is None, "nothing changed"
    assert "private chat" in await ann.says_and_hears("/lang ru")


async def test_a_traditional_chinese_group_card_in_new_taiwan_dollars(world: World) -> None:
    await world.leader.says_and_hears("/settings lang zh-Hant")
    await world.leader.says_and_hears("/settings 貨幣 TWD")  # the key in 繁體 too
    card = await world.leader.posts("芒果禮盒\n價格：1250\n成團：3\n截止：2天\n庫存：30\n限購：2")
    text = world.card(card)
    assert "💰 每份 NT$1,250 · 團購 #1" in text, text
    assert "剩餘庫存：30 / 30" in text and "每人限購 2 份" in text
    # 2 days, or 1 day 23 h 59 min when a second ticks between posting and drawing.
    assert ("還剩 2 天" in text or "還剩 1 天 23 小時 59 分鐘" in text) and "第 1 團" in text
    assert re.search(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2} 截止", text), "the date the Taiwan way"
    ann = world.member("Ann", lang="zh-hant")
    assert "已參團" in await ann.taps_data(card, "v1:join:1")
    assert not any("参" in label or "Join" in label for label in world.labels(card))


async def test_a_russian_form_with_a_mistake_is_answered_in_russian(world: World) -> None:
    await world.leader.says_and_hears("/settings язык русский")
    answer = await world.leader.says_and_hears("/deal Манго\nцена: дёшево\nминимум: 10\nсрок: 2ч")
    assert "Закупка не опубликована" in answer and "«дёшево» не похоже на сумму" in answer
    assert "цена: 12,50" in answer, "the example in Russian keys, with the decimal comma"
    assert await world.service.store.deals.open_deals(-1001234567890) == []

    card = await world.leader.posts("Манго\nцена: 12,5\nминимум: 2\nсрок: 3д")
    text = world.card(card)
    assert "12,50 ¥ за шт." in text.replace("\u00a0", " ")
    assert re.search(r"До \d{2}\.\d{2}\.\d{4} \d{2}:\d{2} \(осталось 3 дня", text), text


async def test_an_english_group_answers_a_russian_form_in_russian(world: World) -> None:
    answer = await world.leader.says_and_hears("/deal Манго\nцена: 5\nминимум: много\nсрок: 2ч")
    assert "Закупка не опубликована" in answer, "the form's own language, not the group's"
    assert "Price" not in answer and "is not" not in answer
