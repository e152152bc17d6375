"""/settings pin on: each new deal card pinned silently, unpinned when its deal ends; a bot
without the right to pin tells the group's leaders once."""

from __future__ import annotations

import asyncio

from tests.conftest import GROUP_ID, World

DEAL = "Cherries\nprice: 5\nmin: 2\ndeadline: 2h"
REFUSED = "I could not pin the card"


async def posts(world: World, form: str = DEAL, chat_id: int = GROUP_ID) -> int:
    """The leader posts a deal; returns its card once the posting is done (pinned or not:
    the deadline is armed last)."""
    card = await world.leader.posts(form, chat_id)
    ((deal_id,),) = await world.rows("SELECT MAX(id) FROM deals WHERE chat_id = ?", chat_id)
    jobs = world.service.deadlines.scheduler
    await world.api.wait_until(lambda: jobs.get_job(f"deadline:{deal_id}") is not None)
    return card


async def test_cards_are_pinned_silently_and_unpinned_when_their_deal_ends(world: World) -> None:
    reply = await world.leader.says_and_hears("/settings pin on")
    assert "Saved" in reply and "pin: on" in reply
    sells_out = await posts(world, "Lychee\nprice: 8\nmin: 2\ndeadline: 1h\nstock: 2")
    cancelled = await posts(world)
    due = await posts(world)

    assert world.api.pinned[GROUP_ID] == [sells_out, cancelled, due]
    pins = world.api.calls("pinChatMessage")
    assert [(p.params["message_id"], p.params["disable_notification"]) for p in pins] == [
        (sells_out, True),
        (cancelled, True),
        (due, True),
    ]

    ann, bo = world.member("Ann"), world.member("Bo")
    await ann.taps("Join", sells_out)
    await bo.taps("Join", sells_out)  # the last unit: the deal closes
    await world.settle()
    assert world.api.pinned[GROUP_ID] == [cancelled, due]

    assert "cancelled" in await world.leader.says_and_hears("/cancel 2")
    await world.settle()
    assert world.api.pinned[GROUP_ID] == [due]

    # Turned off, the bot pins no new card, but still unpins the one it pinned.
    assert "pin: off" in await world.leader.says_and_hears("/settings pin off")
    unpinned = await posts(world)
    await world.pass_time(2 * 3600 + 5)

    assert world.api.pinned[GROUP_ID] == []
    unpins = world.api.calls("unpinChatMessage")
    assert [u.params["message_id"] for u in unpins] == [sells_out, cancelled, due]
    assert all(u.ok for u in unpins)
    assert unpinned not in [p.params["message_id"] for p in world.api.calls("pinChatMessage")]
    assert not any(REFUSED in t for t in world.group_texts())


async def test_without_the_right_the_leader_is_told_once(world: World) -> None:
    world.api.deny_pins(GROUP_ID)
    world.leader.opens_private_chat()
    await world.leader.says_and_hears("/settings pin on")
    first = await posts(world)
    second = await posts(world)
    await world.settle()

    told = [t for t in world.leader.private_texts() if REFUSED in t]
    assert len(told) == 1, told
    assert "deal #1" in told[0] and "/settings pin off" in told[0]
    assert not any(REFUSED in t for t in world.group_texts())
    assert len(world.api.calls("pinChatMessage")) == 2 and not world.api.pinned.get(GROUP_ID)
    assert "Join" in " ".join(world.labels(first)) and "Join" in " ".join(world.labels(second))

    # Turned on again, the leader hears it again (once), if the bot still may not pin.
    await world.leader.says_and_hears("/settings pin on")
    await posts(world)
    await posts(world)
    await world.settle()
    assert len([t for t in world.leader.private_texts() if REFUSED in t]) == 2

    # Given the right, the next card is pinned.
    world.api.deny_pins(GROUP_ID, denied=False)
    fifth = await posts(world)
    assert world.api.pinned[GROUP_ID] == [fifth]


async def test_with_no_leader_to_reach_the_group_is_told_once_in_its_language(
    world: World,
) -> None:
    world.api.deny_pins(GROUP_ID)
    assert "已保存" in await world.leader.says_and_hears("/settings lang zh")
    reply = await world.leader.says_and_hears("/settings 置顶 开")
    assert "置顶 pin：开" in reply
    await posts(world)
    await posts(world)
    await world.settle()

    told = [t for t in world.group_texts() if "无法在「Mango lovers」置顶团购 #1" in t]
    assert len(told) == 1, world.group_texts()
    assert "没有置顶消息的权限" in told[0]


async def test_a_card_unpin_refused_tells_the_leader(world: World) -> None:
    world.leader.opens_private_chat()
    await world.leader.says_and_hears("/settings pin on")
    card = await posts(world)
    assert world.api.pinned[GROUP_ID] == [card]
    world.api.deny_pins(GROUP_ID)  # an admin took the right away meanwhile

    await world.leader.says_and_hears("/cancel 1")
    await world.settle()

    assert any("I could not unpin the card of deal #1" in t for t in world.leader.private_texts())
    assert world.api.pinned[GROUP_ID] == [card]


async def test_a_bad_pin_value_says_what_to_use_and_changes_nothing(world: World) -> None:
    reply = await world.leader.says_and_hears("/settings pin maybe")
    assert reply == "“maybe” is not a valid pin. Use on or off."
    assert "pin: off" in await world.leader.says_and_hears("/settings")
    await posts(world)
    assert world.api.calls("pinChatMessage") == []


async def test_the_pin_setting_moves_with_the_group_to_its_supergroup(world: World) -> None:
    old, new = -5550001, -1005550001
    world.api.group(old, "Small group", creator=world.leader.user)
    await world.leader.says_and_hears("/settings pin on", chat_id=old)
    card = await posts(world, chat_id=old)
    assert world.api.pinned[old] == [card]
    world.api.group(new, "Small group", creator=world.leader.user)
    world.api.push_update(
        {
            "message": {
                "message_id": 99,
                "date": 1_800_000_000,
                "chat": world.api.chats[old],
                "from": world.leader.user,
                "migrate_to_chat_id": new,
            }
        }
    )
    await world.api.wait_until(lambda: bool(world.api.pinned.get(new)), timeout=5)

    new_card = world.api.bot_messages(new)[-1]["message_id"]
    assert world.api.pinned[new] == [new_card]
    assert "pin: on" in await world.leader.says_and_hears("/settings", chat_id=new)
    await world.pass_time(2 * 3600 + 5)
    assert world.api.pinned[new] == []


async def test_a_deal_that_ends_while_its_pin_is_on_the_way_is_unpinned(world: World) -> None:
    """Two taps sell the deal out while Telegram is still pinning its card: the unpin that
    found nothing pinned then is made once the pin lands."""
    await world.leader.says_and_hears("/settings pin on")
    world.api.delay(0.5, ["pinChatMessage"])
    card = await world.leader.posts("Lychee\nprice: 8\nmin: 2\ndeadline: 1h\nstock: 2")
    await world.member("Ann").taps("Join", card)
    await world.member("Bo").taps("Join", card)  # sold out before the pin came back
    for _ in range(100):  # the pin's answer is held half a second; bounded wait for it
        if world.api.calls("unpinChatMessage"):
            break
        await asyncio.sleep(0.05)
    await world.settle()
    assert await world.rows("SELECT status, pinned FROM deals") == [("closed", 0)]
    assert not world.api.pinned.get(GROUP_ID)
