"""Paying without a provider: the group's payment instructions and QR code go with each
confirmed order, with its amount and the order number to quote; "I've paid" stays."""

from __future__ import annotations

from tests.conftest import GROUP_ID, World


async def test_a_qr_code_and_instructions_go_with_each_confirmation(world: World) -> None:
    world.leader.opens_private_chat()
    sent = world.api.send_photo(
        GROUP_ID, world.leader.id, "/settings pay note 支付宝扫码，备注订单号 <3", file_id="QR1"
    )
    assert sent["photo"]
    reply = await world.api.wait_for("sendMessage", chat_id=GROUP_ID)
    shown = world.visible(reply.params)
    assert "pay note: 支付宝扫码，备注订单号 <3" in shown and "pay QR code: set" in shown
    group = await world.service.store.groups.get_group(GROUP_ID)
    assert group is not None and group.pay_qr and group.pay_qr.startswith("QR1")

    card = await world.leader.posts("Mangoes\nprice: 12.5\nmin: 2\ndeadline: 1d")
    ann, bo = world.member("Ann"), world.member("Bo", lang="ru")
    await ann.taps_data(card, "v1:join:1")
    await bo.taps_data(card, "v1:join:1")
    await world.settle()

    photos = [m for m in world.api.bot_messages(ann.id) if m.get("photo")]
    assert len(photos) == 1 and photos[0]["photo"][-1]["file_id"].startswith("QR1")
    assert "Scan to pay ¥12.50 for order #1" in photos[0]["caption"]
    confirmation = ann.private_texts()[-1]
    assert "Pay ¥12.50 to the leader and quote order #1." in confirmation
    assert "支付宝扫码，备注订单号 <3" in confirmation, "the note as typed, escaped"
    labels = [
        t for t, _ in world.api.buttons(ann.id, world.api.bot_messages(ann.id)[-1]["message_id"])
    ]
    assert any("I've paid" in label for label in labels), "the claim flow stays"
    assert any("Переведите организатору 12,50" in t for t in bo.private_texts()), "in Russian"


async def test_instructions_alone_then_off_and_a_member_may_not_set_them(world: World) -> None:
    answer = await world.leader.says_and_hears("/settings pay note Bank transfer 6222 0000")
    assert "pay note: Bank transfer 6222 0000" in answer and "QR code" not in answer
    too_long = await world.leader.says_and_hears("/settings pay note " + "x" * 301)
    assert "at most 300 characters" in too_long
    assert "at most 300" in await world.leader.says_and_hears("/settings pay note")
    stranger = world.member("Mallory")
    world.api.send_photo(GROUP_ID, stranger.id, "/settings pay scam", file_id="EVIL")
    refused = await world.api.wait_for(
        "sendMessage", chat_id=GROUP_ID, where=lambda r: "leaders" in str(r.params.get("text"))
    )
    assert "Only the group's leaders" in world.visible(refused.params)
    group = await world.service.store.groups.get_group(GROUP_ID)
    assert group is not None and group.pay_note == "Bank transfer 6222 0000"
    assert group.pay_qr is None

    assert "pay: off" in await world.leader.says_and_hears("/settings pay off")
    group = await world.service.store.groups.get_group(GROUP_ID)
    assert group is not None and (group.pay_note, group.pay_qr) == (None, None)
    photo = world.api.send_photo(GROUP_ID, world.leader.id, file_id="CAT")
    since = len(world.api.requests)
    world.api.send_text(
        GROUP_ID, world.leader.id, "/settings pay off", reply_to=photo["message_id"]
    )
    await world.api.wait_for("sendMessage", since=since, chat_id=GROUP_ID)
    group = await world.service.store.groups.get_group(GROUP_ID)
    assert group is not None and group.pay_qr is None, "a pay mode is not a QR code"
