"""The bot is killed with a round open; the deadline passes; the next start honours it."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

from tests.conftest import GROUP_ID, TOKEN, bot_process, operator_bot_env
from tests.fakeapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent


def started_bot(
    api: FakeBotAPI, db: Path, log: Path, clock_offset: int = 0
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`python -m bot` as an operator runs it, configured by environment variables only."""
    env = operator_bot_env(api, db, clock_offset)
    return bot_process(env, log)


async def test_a_deadline_passed_while_the_bot_was_down_is_honoured_at_start(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    leader = api.user(1001, "Lena")
    api.group(GROUP_ID, "Mango lovers", creator=leader, admins=[])
    ann, bo = api.user(2001, "Ann"), api.user(2002, "Bo")
    api.started_users.update({2001, 2002})

    with started_bot(api, db, log) as first:
        api.send_text(GROUP_ID, 1001, "/deal Lychee\nprice: 8\nmin: 2\ndeadline: 1h\nmode: tipping")
        card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
        card_id = card.result["message_id"]  # type: ignore[index]
        join = next(data for text, data in api.buttons(GROUP_ID, card_id) if "Join" in text)
        for uid in (2001, 2002):
            answer = await api.wait_answer(api.tap(GROUP_ID, uid, card_id, str(join)))
            assert answer["text"].startswith("You're in")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    sent_before = len(api.requests)
    with started_bot(api, db, log, clock_offset=3600 + 60):
        await api.wait_until(
            lambda: "Closed" in (api.message(GROUP_ID, card_id).get("text") or ""), timeout=20
        )
        for uid in (ann["id"], bo["id"]):
            await api.wait_for("sendMessage", chat_id=uid, since=sent_before, timeout=10)
        # The group's message takes its turn after the card edit (20 a minute per group).
        await api.wait_until(
            lambda: any(
                "confirmed with 2 members" in (m.get("text") or "")
                for m in api.bot_messages(GROUP_ID)
            ),
            timeout=10,
        )

    with sqlite3.connect(db) as conn:
        orders = conn.execute(
            "SELECT user_id, quantity, status FROM orders ORDER BY user_id"
        ).fetchall()
        deal = conn.execute("SELECT status FROM deals").fetchone()
    assert orders == [(2001, 1, "confirmed"), (2002, 1, "confirmed")]
    assert deal == ("closed",)
    # The card closed at start keeps the final list, as one closed while the bot ran.
    card_text = api.message(GROUP_ID, card_id)["text"]
    assert "Closed — 1 round formed · 2 members · 2 units\n\n1. Ann × 1\n2. Bo × 1" in card_text
    assert api.buttons(GROUP_ID, card_id) == []
    assert any(
        "confirmed with 2 members" in (m.get("text") or "") for m in api.bot_messages(GROUP_ID)
    )


async def test_sigterm_stops_the_bot_cleanly(api: FakeBotAPI, tmp_path: Path) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    with started_bot(api, db, log) as process:
        await api.wait_for("getUpdates", timeout=20)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, process.wait, 15)
    assert code == 0
    assert "bot stopped" in log.read_text()
    assert TOKEN not in log.read_text()


async def test_killed_mid_burst_every_answered_join_is_kept(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    leader = api.user(1001, "Lena")
    api.group(GROUP_ID, "Mango lovers", creator=leader, admins=[])
    members = [api.user(5000 + n, f"M{n}") for n in range(150)]
    api.started_users.update(m["id"] for m in members)

    with started_bot(api, db, log) as first:
        api.send_text(GROUP_ID, 1001, "/deal Figs\nprice: 5\nmin: 7\ndeadline: 1d\nstock: 500")
        card = await api.wait_for("sendMessage", chat_id=GROUP_ID, timeout=20)
        card_id = card.result["message_id"]
        join = next(data for text, data in api.buttons(GROUP_ID, card_id) if "Join" in text)
        queries = [api.tap(GROUP_ID, m["id"], card_id, str(join)) for m in members]
        await api.wait_until(lambda: sum(bool(api.answers[q]) for q in queries) >= 40, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    answered = {q for q in queries if api.answers[q]}
    joined = {q for q in answered if api.answers[q][0]["text"].startswith("You're in")}

    with started_bot(api, db, log):  # back up: it answers taps again
        late = api.user(6001, "Late")
        answer = await api.wait_answer(api.tap(GROUP_ID, late["id"], card_id, str(join)), 20)
        assert answer["text"].startswith("You're in")

    with sqlite3.connect(db) as conn:
        holders = {
            row[0] for row in conn.execute("SELECT user_id FROM orders WHERE status <> 'cancelled'")
        }
        units, most = conn.execute(
            "SELECT COALESCE(SUM(quantity), 0), MAX(quantity) FROM orders"
            " WHERE status <> 'cancelled'"
        ).fetchone()
        taken = conn.execute("SELECT taken FROM deals").fetchone()[0]
    by_query = dict(zip(queries, members, strict=True))
    assert {by_query[q]["id"] for q in joined} <= holders, "every answered join survived"
    assert len(joined) >= 40 and 6001 in holders
    assert most == 1, "no tap counted twice"
    assert taken == units, "the stock counter agrees with the orders: nothing half-written"
