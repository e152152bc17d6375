"""Rush and faults end to end: 429s, 5xx and time-outs, redeliveries, odd updates, fuzz."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.conftest import GROUP_ID, World

DEAL = "Cherries\nprice: 20\nmin: 5\ndeadline: 1d\nstock: 30"


async def store_facts(world: World) -> tuple[int, int, int]:
    """(units held by live orders, the deal's taken counter, confirmed units) of deal 1."""
    [(live,)] = await world.rows(
        "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE deal_id = 1 AND status <> 'cancelled'"
    )
    [(taken,)] = await world.rows("SELECT taken FROM deals WHERE id = 1")
    [(confirmed,)] = await world.rows(
        "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE deal_id = 1 AND status = 'confirmed'"
    )
    return int(live), int(taken), int(confirmed)


async def burst(world: World, card: int, members: int) -> list[str]:
    join = world.button(GROUP_ID, card, "Join")
    people = [world.member() for _ in range(members)]
    queries = [world.api.tap(GROUP_ID, p.id, card, join) for p in people]
    answers = await asyncio.gather(*(world.api.wait_answer(q, timeout=30) for q in queries))
    await world.settle()
    assert all(len(world.api.answers[q]) == 1 for q in queries), "every tap answered once"
    return [a["text"] for a in answers]


async def test_a_burst_under_flood_control_loses_nothing(world: World) -> None:
    card = await world.leader.posts(DEAL)
    world.api.flood(8, retry_after=1)  # Telegram throttles the next sends and edits

    texts = await burst(world, card, 40)

    assert sum(t.startswith("You're in") for t in texts) == 30
    assert await store_facts(world) == (30, 30, 30)
    throttled = [r for r in world.api.requests if r.status == 429]
    assert len(throttled) == 8
    # Round messages that queue behind the limit go out joined: count rounds, not messages.
    assert sum(t.count("formed with 5 members") for t in world.group_texts()) == 6, "none dropped"
    assert "Rounds formed: 6" in world.card(card) or "6 rounds formed" in world.card(card)


async def test_bad_gateways_and_time_outs_are_retried(world: World) -> None:
    card = await world.leader.posts(DEAL)
    world.api.fail(4, status=502, methods=["sendMessage", "editMessageText"])

    texts = await burst(world, card, 5)  # the round forms: messages go out through 502s

    assert all(t.startswith("You're in") for t in texts)
    await world.api.wait_until(
        lambda: any("formed with 5 members" in t for t in world.group_texts()), timeout=15
    )
    assert [r.status for r in world.api.requests if r.status >= 500] == [502] * 4
    assert "Rounds formed: 1" in world.card(card)


async def test_a_refused_connection_is_waited_out(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    card = await world.leader.posts(DEAL)
    join = world.button(GROUP_ID, card, "Join")
    people = [world.member() for _ in range(5)]
    outage = asyncio.create_task(world.api.outage(2.0))  # taps land while it is down
    queries = [world.api.tap(GROUP_ID, p.id, card, join) for p in people]
    await outage

    answers = await asyncio.gather(*(world.api.wait_answer(q, timeout=30) for q in queries))
    await world.settle()

    assert all(a["text"].startswith("You're in") for a in answers)
    assert all(len(world.api.answers[q]) == 1 for q in queries), "every tap answered once"
    assert await store_facts(world) == (5, 5, 5)
    assert any("formed with 5 members" in t for t in world.group_texts())
    assert "Rounds formed: 1" in world.card(card)
    # aiohttp names a refused connection ClientConnectorError ("Connect call failed").
    said = [r.getMessage() for r in caplog.records]
    refused = [line for line in said if "aiohttp.ClientConnectorError" in line]
    assert refused, "the bot met refused connections and waited them out"


async def test_a_group_message_whose_answer_never_comes_appears_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    card = await world.leader.posts(DEAL)
    world.api.delay(30, methods=["sendMessage"])  # past the bot's 5-second read timeout
    first = len(world.api.requests)
    join = world.button(GROUP_ID, card, "Join")
    queries = [world.api.tap(GROUP_ID, world.member().id, card, join) for _ in range(5)]
    answers = await asyncio.gather(*(world.api.wait_answer(q) for q in queries))

    # The round formed: its group message went out, and its answer hangs.
    await world.api.wait_for("sendMessage", chat_id=GROUP_ID, since=first, timeout=10)
    await world.api.wait_until(
        lambda: any("not sent again" in r.getMessage() for r in caplog.records), timeout=10
    )
    world.api.delay(0)
    late = await world.member("Late").taps("Join", card)  # the bot goes on as before
    await world.settle()

    def group_sends() -> list[str]:
        sent = world.api.requests[first:]
        return [
            str(r.params["text"])
            for r in sent
            if r.method == "sendMessage" and r.params.get("chat_id") == GROUP_ID
        ]

    assert sum("formed with 5 members" in text for text in group_sends()) == 1, "exactly once"
    assert all(a["text"].startswith("You're in") for a in answers)
    assert late.startswith("You're in")
    assert await store_facts(world) == (6, 6, 5)


async def test_polling_survives_an_outage_and_catches_up(world: World) -> None:
    card = await world.leader.posts(DEAL)
    ann = world.member("Ann")
    world.api.fail(3, status=503, methods=["getUpdates"])
    await world.api.wait_until(lambda: world.api._fail is None, timeout=30)

    assert (await ann.taps("Join", card)).startswith("You're in")


async def test_a_redelivered_tap_or_command_counts_once(world: World) -> None:
    card = await world.leader.posts(DEAL)
    ann = world.member("Ann")
    join = world.button(GROUP_ID, card, "Join")
    query = world.api.tap(GROUP_ID, ann.id, card, join)
    update_id = world.api.pushed[-1]["update_id"]
    await world.api.wait_answer(query)
    world.api.redeliver(update_id)
    await world.api.wait_until(lambda: len(world.api.answers[query]) == 2)
    await world.settle()

    assert (await store_facts(world))[0] == 1
    kiwi = await world.leader.posts("Kiwi\nprice: 1\nmin: 2\ndeadline: 2h")
    command = next(u for u in world.api.pushed if "Kiwi" in str(u.get("message", {})))
    world.api.redeliver(command["update_id"])  # the command, delivered twice
    await world.api.wait_until(lambda: not world.api.pending_updates())

    def kiwi_cards() -> list[int]:
        return [
            m["message_id"]
            for m in world.api.bot_messages(GROUP_ID)
            if "Kiwi" in (m.get("text") or "")
        ]

    with pytest.raises(AssertionError):  # a second card would appear within a second
        await world.api.wait_until(lambda: len(kiwi_cards()) > 1, timeout=1.0)
    assert kiwi_cards() == [kiwi]
    assert await world.rows("SELECT COUNT(*) FROM deals WHERE title = 'Kiwi'") == [(1,)]


def message(world: World, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": random.randint(10_000, 99_999),
        "date": 1_800_000_000,
        "chat": world.api.chats[GROUP_ID],
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": text.split()[0].__len__()}],
        **extra,
    }


async def test_an_anonymous_admin_may_post_a_deal(world: World) -> None:
    anonymous = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    world.api.push_update(
        {
            "message": message(
                world,
                "/deal Plums\nprice: 3\nmin: 2\ndeadline: 2h",
                **{"from": anonymous, "sender_chat": world.api.chats[GROUP_ID]},
            )
        }
    )
    sent = await world.api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=5)
    assert "Plums" in world.visible(sent.params)


async def test_a_message_merely_claiming_to_come_from_the_group_may_not_post_a_deal(
    world: World,
) -> None:
    group = world.api.chats[GROUP_ID]
    linked_channel = {"id": -1007777, "type": "channel", "title": "News"}
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    anonymous["username"] = "GroupAnonymousBot"
    forged = [
        {"from": world.member("Mallory").user, "sender_chat": group},  # an ordinary member
        {"sender_chat": group},  # nobody at all
        {"from": anonymous, "sender_chat": linked_channel},  # not the group itself
        {"from": world.member("Eve").user | {"id": 1087968824}, "sender_chat": group},
    ]
    since = len(world.api.requests)
    for n, extra in enumerate(forged):
        text = f"/deal Forged{n}\nprice: 3\nmin: 2\ndeadline: 2h"
        world.api.push_update({"message": message(world, text, **extra)})

    def refusals() -> int:
        sent = world.api.calls("sendMessage", chat_id=GROUP_ID)[-10:]
        return sum("Only the group's leaders" in str(call.params["text"]) for call in sent)

    await world.api.wait_until(lambda: refusals() == 3, timeout=5)
    card = await world.leader.says_and_hears("/deal Real\nprice: 3\nmin: 2\ndeadline: 2h")
    assert "Real" in card, "posted after the forged ones"
    await world.settle()
    assert await world.rows("SELECT title FROM deals") == [("Real",)]
    sent = world.api.requests[since:]
    assert not any("Forged" in str(r.params.get("text")) for r in sent)


async def test_edited_commands_channel_posts_and_userless_updates_are_ignored(
    world: World,
) -> None:
    edited = message(world, "/deal Pears\nprice: 3\nmin: 2\ndeadline: 2h")
    edited["from"] = world.leader.user
    edited["edit_date"] = 1_800_000_100
    world.api.push_update({"edited_message": edited})
    channel = {"id": -1007777, "type": "channel", "title": "News"}
    world.api.push_update(
        {"channel_post": {"message_id": 5, "date": 1, "chat": channel, "text": "/deals"}}
    )
    world.api.push_update(
        {
            "poll": {
                "id": "p1",
                "question": "?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        }
    )

    reply = await world.member("Ann").says_and_hears("/deals")  # still answering

    assert "No open deals" in reply
    assert world.api.calls("sendMessage", chat_id=-1007777) == []


async def test_a_group_that_becomes_a_supergroup_keeps_its_deals(world: World) -> None:
    old = -5550001
    world.api.group(old, "Small group", creator=world.leader.user)
    card = await world.leader.posts(DEAL, chat_id=old)
    new = -1005550001
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
    sent = await world.api.wait_for("sendMessage", chat_id=new, timeout=5)

    assert "Cherries" in world.visible(sent.params)
    assert card > 0
    assert await world.rows("SELECT chat_id FROM deals") == [(new,)]
    ann = world.member("Ann")
    new_card = world.api.bot_messages(new)[-1]["message_id"]
    assert (await ann.taps("Join", new_card, chat_id=new)).startswith("You're in")


async def test_the_bot_removed_from_a_group_is_no_crash(world: World) -> None:
    await world.leader.posts(DEAL)
    world.api.push_update(
        {
            "my_chat_member": {
                "chat": world.api.chats[GROUP_ID],
                "from": world.leader.user,
                "date": 1_800_000_000,
                "old_chat_member": {"status": "member", "user": world.api.bot_user},
                "new_chat_member": {"status": "left", "user": world.api.bot_user},
            }
        }
    )
    reply = await world.member("Ann").says_and_hears("/deals")
    assert "Cherries" in reply


def junk_updates(rng: random.Random, world: World) -> list[dict[str, Any]]:
    """Malformed and strange updates: wrong types, missing fields, huge text, odd data."""
    chat = world.api.chats[GROUP_ID]
    user = world.leader.user
    texts = [
        "/deal",
        "/close",
        "/close x y z",
        "/cancel -1",
        "/paid 0",
        "/summary 2026-02-30",
        "/export 99999999999999",
        "/settings tz",
        "/payout @nobody 1e9",
        "/start " + "A" * 300,
        "/deal " + "<b>" * 500,
        "/deal\x00\x01",
        "/settings reward -5%",
        "/top",
        "/rewards",
    ]
    updates: list[dict[str, Any]] = []
    for n in range(60):
        kind = rng.randrange(5)
        if kind == 0:
            text = rng.choice(texts)
            updates.append({"message": message(world, text, **{"from": user})})
        elif kind == 1:
            data = rng.choice(
                ["", "v1", "v1:join:", "v1:join:0", "v1:paid:1", "💥" * 30, "v1:join:" + "9" * 40]
            )
            updates.append(
                {
                    "callback_query": {
                        "id": f"junk{n}",
                        "from": user,
                        "chat_instance": "x",
                        "data": data,
                    }
                }
            )
        elif kind == 2:
            updates.append(
                {"callback_query": {"id": f"nodata{n}", "from": user, "chat_instance": "x"}}
            )
        elif kind == 3:
            updates.append({"message": {"message_id": n + 50_000, "date": 1, "chat": chat}})
        else:
            updates.append(
                {
                    "message_reaction": {
                        "chat": chat,
                        "message_id": 1,
                        "date": 1,
                        "old_reaction": [],
                        "new_reaction": [],
                    }
                }
            )
    return updates


async def test_junk_updates_never_stop_the_bot(world: World) -> None:
    card = await world.leader.posts(DEAL)
    for update in junk_updates(random.Random(7), world):
        world.api.push_update(update)
    await asyncio.sleep(0.5)

    answer = await world.member("Ann").taps("Join", card)

    assert answer.startswith("You're in")
    assert (await store_facts(world))[0] == 1
    traces = [r for r in world.api.requests if "Traceback" in str(r.params.get("text", ""))]
    assert traces == []


async def test_a_command_from_a_group_that_removed_the_bot_is_one_warning_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    card = await world.leader.posts(DEAL)
    world.api.kicked_chats.add(GROUP_ID)  # the bot was removed; an update was on its way
    since = len(world.api.requests)
    for text in ("/deals", "/deal Figs\nprice: 2\nmin: 2\ndeadline: 2h"):
        world.api.push_update({"message": message(world, text, **{"from": world.leader.user})})
    await world.member("Ann").taps("Join", card)

    def refused() -> list[Any]:
        return [r for r in world.api.requests[since:] if r.status == 403]

    await world.api.wait_until(lambda: len(refused()) >= 2, timeout=10)
    await world.settle()
    assert {r.method for r in refused()} <= {"sendMessage", "editMessageText"}
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert "Traceback" not in caplog.text
    warned = [r for r in caplog.records if "kicked" in r.getMessage()]
    assert warned and all(r.levelname == "WARNING" for r in warned)
