"""Flash sales that start on time (秒杀): a preview card without Join, taps refused with
the time left, and at the start the Join button and one "open now" message; also after a
restart."""

from __future__ import annotations

import signal
import sqlite3
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.models import Member
from tests.conftest import GROUP_ID, World
from tests.fakeapi import FakeBotAPI
from tests.test_restart import started_bot

FLASH = "Flash mangoes\nprice: 9.90\nmin: 2\nstart: 30m\ndeadline: 2h"


def forged_join(deal_id: int) -> str:
    """A Join button's data, as an old card, another client or a fast finger sends it."""
    return callbacks.DEAL.data(callbacks.Action.JOIN, deal_id)


async def deal_times(world: World, deal_id: int) -> tuple[int, int, int]:
    rows = await world.rows(
        "SELECT created_at, starts_at, deadline FROM deals WHERE id = ?", deal_id
    )
    created, starts, deadline = rows[0]
    return int(created), int(starts), int(deadline)


def opened_messages(world: World, text: str) -> list[str]:
    """The group's lines that say `text` (texts sent in one turn share a message)."""
    return [line for t in world.group_texts() for line in t.split("\n") if text in line]


async def test_a_timed_sale_is_a_preview_until_its_start_then_opens_once(world: World) -> None:
    card = await world.leader.posts(FLASH)
    created, starts, deadline = await deal_times(world, 1)
    assert starts - created in (30 * 60, 30 * 60 + 1)
    assert deadline == starts + 2 * 3600, "a duration deadline counts from the start"

    text = world.card(card)
    assert "Opens at " in text and ", in 30 min (as of " in text, text
    assert "Join appears then" in text
    assert world.labels(card) == ["🔗 Invite", "📤 Share"], "a preview has no Join button"

    ann = world.member("Ann")
    answer = await ann.taps_data(card, forged_join(1))
    assert answer == "Not open yet: it opens in 30 min. Join appears on the card then."
    await world.pass_time(20 * 60)
    assert "opens in 10 min" in await ann.taps_data(card, forged_join(1))
    await world.settle()
    assert await world.rows("SELECT id FROM orders") == []
    assert opened_messages(world, "is open now") == []

    await world.pass_time(10 * 60 + 5)
    assert "Opens at" not in world.card(card)
    assert any("Join" in label for label in world.labels(card))
    assert opened_messages(world, "is open now") == [
        "🔥 Flash mangoes is open now! Tap Join on its card (deal #1) until "
        + world.service.texts.env.filters["local_time"](deadline, "Asia/Shanghai")
        + "."
    ]
    assert (await ann.taps("Join", card)).startswith("You're in")

    await world.pass_time(60)  # the clock moves again: every timer is re-read
    assert len(opened_messages(world, "is open now")) == 1, "announced once"
    await world.pass_time(2 * 3600)
    assert "Closed" in world.card(card)


async def test_the_store_refuses_a_join_before_the_start_inside_its_transaction(
    world: World,
) -> None:
    """Past the service's check (another worker's stale view, say), the write itself
    refuses: no tap slips through before the start."""
    await world.leader.posts(FLASH)
    ann = Member(user_id=world.member("Ann").id, first_name="Ann")
    with pytest.raises(UserError) as refused:
        await world.service.store.rounds.join_round(1, ann, world.clock.timestamp(), "tap-1")
    assert refused.value.template == "tap_not_started"
    assert 29 * 60 <= refused.value.context["left"] <= 30 * 60
    assert await world.rows("SELECT id FROM orders") == []
    assert await world.rows("SELECT taken FROM deals") == [(0,)]
    # Nor does a forged "Notify me" put anybody in line for a unit before the start.
    card = int(world.api.bot_messages(GROUP_ID)[-1]["message_id"])
    wait = callbacks.DEAL.data(callbacks.Action.WAIT, 1)
    assert (await world.member("Bo").taps_data(card, wait)).startswith("Not open yet")
    assert await world.rows("SELECT id FROM waitlist") == []


async def test_a_chinese_timed_sale_at_a_clock_time(world: World) -> None:
    assert "已保存" in await world.leader.says_and_hears("/settings lang zh")
    tz = ZoneInfo("Asia/Shanghai")
    start = (world.clock.now().astimezone(tz) + timedelta(hours=3)).strftime("%H:%M")
    card = await world.leader.posts(f"秒杀芒果\n价格：9.9\n成团：2\n开始：{start}\n截止：2小时")
    created, starts, deadline = await deal_times(world, 1)
    assert deadline - starts == 2 * 3600
    assert 2 * 3600 + 59 * 60 <= starts - created <= 3 * 3600

    text = world.card(card)
    assert f"{start} 开抢，还有 2 小时 " in text or f"{start} 开抢，还有 3 小时 0 分钟" in text, (
        text
    )
    assert "届时出现参团按钮" in text
    assert world.labels(card) == ["🔗 邀请", "📤 分享"]
    ann = world.member("Ann", lang="zh")
    answer = await ann.taps_data(card, forged_join(1))
    assert answer.startswith("还没开抢：还有 ") and "届时卡片上会出现参团按钮" in answer

    await world.pass_time_until(start)
    assert any("参团" in label for label in world.labels(card))
    assert "开抢，还有" not in world.card(card)
    assert len(opened_messages(world, "开抢啦")) == 1
    assert (await ann.taps("参团", card)).startswith("已加入：1 × 秒杀芒果")


async def test_no_reminder_fires_before_the_start(world: World) -> None:
    # Reminders go 60 min before the deadline. This sale opens in 3h and closes 30 min
    # later: its reminder would come before the start, so there is none.
    early = await world.leader.posts("Early\nprice: 5\nmin: 3\nstart: 3h\ndeadline: 30m")
    # This one opens in 1h and closes 2h later: reminded 1h after its start.
    await world.leader.posts("Later\nprice: 5\nmin: 3\nstart: 1h\ndeadline: 2h")
    timers = world.service.deadlines.scheduler
    await world.api.wait_until(lambda: timers.get_job("deadline:2") is not None)
    assert timers.get_job("reminder:1") is None and timers.get_job("reminder:2") is not None

    await world.pass_time(2 * 3600 + 5)  # Later: an hour after its start, an hour left
    await world.api.wait_until(lambda: any("more needed" in t for t in world.group_texts()))
    await world.pass_time(3600 + 35 * 60)  # Early opened and closed; Later closed
    await world.api.wait_until(lambda: "Closed" in world.card(early))
    lines = [line for text in world.group_texts() for line in text.split("\n")]
    assert [line for line in lines if "more needed" in line] == [
        "⏳ Later: 3 more needed, 59 min left."
    ]


async def test_deals_lists_a_timed_sale_with_its_start(world: World) -> None:
    await world.leader.posts(FLASH)
    listed = await world.leader.says_and_hears("/deals past")
    assert "#1 Flash mangoes — opens " in listed
    listed = await world.leader.says_and_hears("/deals")
    assert "Flash mangoes — ¥9.90, #1, opens " in listed


def card_stored(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT card_message_id FROM deals").fetchone()
    return row is not None and row[0] is not None


async def test_a_timed_sale_whose_start_passed_while_the_bot_was_down_opens_at_start(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    leader = api.user(1001, "Lena")
    api.group(GROUP_ID, "Mango lovers", creator=leader, admins=[])
    ann = api.user(2001, "Ann")
    api.started_users.add(2001)

    with started_bot(api, db, log) as first:
        api.send_text(GROUP_ID, 1001, "/deal Lychee\nprice: 8\nmin: 2\nstart: 30m\ndeadline: 1h")
        card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
        card_id = card.result["message_id"]  # type: ignore[index]
        assert [text for text, _ in api.buttons(GROUP_ID, card_id)] == ["🔗 Invite", "📤 Share"]
        answer = await api.wait_answer(api.tap(GROUP_ID, 2001, card_id, forged_join(1)))
        assert answer["text"].startswith("Not open yet: it opens in 30 min")
        await api.wait_until(lambda: card_stored(db), timeout=10)  # the card is kept current
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    with started_bot(api, db, log, clock_offset=31 * 60):
        await api.wait_until(
            lambda: any("Join" in text for text, _ in api.buttons(GROUP_ID, card_id)), timeout=30
        )
        await api.wait_until(
            lambda: any("is open now" in (m.get("text") or "") for m in api.bot_messages(GROUP_ID)),
            timeout=10,
        )
        join = next(data for text, data in api.buttons(GROUP_ID, card_id) if "Join" in text)
        answer = await api.wait_answer(api.tap(GROUP_ID, ann["id"], card_id, str(join)), 20)
        assert answer["text"].startswith("You're in")

    opened = [m for m in api.bot_messages(GROUP_ID) if "is open now" in (m.get("text") or "")]
    assert len(opened) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT opened_at IS NOT NULL FROM deals").fetchone() == (1,)
        assert conn.execute("SELECT user_id FROM orders").fetchall() == [(2001,)]


async def test_an_opened_sale_whose_card_edit_failed_gets_join_at_the_next_resync(
    world: World,
) -> None:
    """The opening is recorded but Telegram refused the card's edit: the card keeps only
    Invite until the timers are read back from the store (a restart, or here the clock
    moved), which redraws the cards of sales already opened."""
    card = await world.leader.posts(FLASH)
    world.api.fail(50, 400, ["editMessageText", "editMessageCaption"])
    await world.pass_time(30 * 60 + 5)
    await world.settle()
    world.api.fail(0)
    assert (await world.rows("SELECT opened_at IS NOT NULL FROM deals")) == [(1,)]
    assert not any("Join" in label for label in world.labels(card))
    await world.pass_time(60)
    await world.settle()
    assert any("Join" in label for label in world.labels(card))
