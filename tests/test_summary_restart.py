"""Daily summaries across a restart: the bot is killed while leaders' summaries are going
out, and every leader still gets exactly one (storage/repos/reports.py: a claim per
leader with a lease, each message noted as it goes). The clock is moved, never waited on."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.flash_harness import TOKEN
from bench.many_groups_run import ManyAPI, populate
from bench.many_groups_store import SUMMARY_AT, Layout, build
from storage.store import Store
from tests.conftest import STORE_CHAT, STORE_NOW, bot_process, operator_env

LAYOUT = Layout(groups=13, open_deals=13, orders=0, storm=0, summaries=12)
LEADERS = {LAYOUT.leader(n) for n in LAYOUT.summary_groups()}
HOLD_AFTER = 9  # leader messages let through before the rest are held (a leader half-sent)


class HeldAPI(ManyAPI):
    """The fake Bot API, letting `let_through` leaders' messages through and then holding
    the rest: a held request never reaches "Telegram" (as a message still waiting in the
    bot's queue when it is killed), and is dropped, unrecorded, once `drop` is set."""

    def __init__(self, let_through: int) -> None:
        super().__init__()
        self.let_through = let_through
        self.held = 0
        self.drop = asyncio.Event()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params = await super()._read_params(request)
        if request.path.endswith("/sendMessage") and int(params.get("chat_id", 0)) in LEADERS:
            if self.let_through <= 0:
                self.held += 1
                await self.drop.wait()
                raise web.HTTPBadGateway()
            self.let_through -= 1
        return params


def leader_messages(api: ManyAPI) -> list[tuple[int, str]]:
    return [
        (int(r.params["chat_id"]), str(r.params["text"]))
        for r in api.requests
        if r.method == "sendMessage" and r.ok and int(r.params["chat_id"]) in LEADERS
    ]


def env(api: ManyAPI, db: Path, offset: float) -> dict[str, str]:
    return operator_env(
        GROUPBUY_TELEGRAM__TOKEN=TOKEN,
        GROUPBUY_TELEGRAM__BASE_URL=api.base_url,
        GROUPBUY_TELEGRAM__POLL_TIMEOUT="1",
        GROUPBUY_TELEGRAM__FLOOD_CONTROL="true",
        GROUPBUY_STORAGE__PATH=str(db),
        GROUPBUY_CLOCK_OFFSET=f"{offset:.3f}",
        GROUPBUY_DEALS__SWEEP_SECONDS="0.5",
    )


async def test_killed_while_summaries_go_out_every_leader_gets_exactly_one(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    await build(db, LAYOUT)
    async with HeldAPI(let_through=HOLD_AFTER) as api:
        populate(api, LAYOUT, db)
        offset = SUMMARY_AT + 60 - time.time()  # a minute past the summaries' time

        with bot_process(env(api, db, offset), log) as first:
            deadline = time.monotonic() + 30
            while not api.held:
                assert first.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "no summary held"
                await asyncio.sleep(0.005)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        api.drop.set()
        before = Counter(user for user, _ in leader_messages(api))
        assert 0 < len(before) < len(LEADERS), "killed half-way"
        assert 1 in before.values(), "a leader's summary was half-sent (its panel held)"

        api.let_through = 10**6
        # Back at once (its claim has not lapsed): the worker takes back what it was sending.
        with bot_process(env(api, db, offset + 5), log):
            await api.wait_until(lambda: len(leader_messages(api)) >= 2 * len(LEADERS), 30)
            await asyncio.sleep(1.5)  # three sweeps more: nothing is sent again

    sent = leader_messages(api)
    assert {user for user, _ in sent} == LEADERS
    twice = [message for message, n in Counter(sent).items() if n > 1]
    assert not twice, f"sent twice: {twice}"
    # Each leader: the day's report and one deal's mark panel, no more.
    assert Counter(user for user, _ in sent) == dict.fromkeys(LEADERS, 2)


async def test_a_leaders_summary_is_claimed_by_one_worker_at_a_time(store: Store) -> None:
    reports, day, leader = store.reports, "2027-01-15", 1001
    claim = reports.claim_summary
    now = STORE_NOW
    # Two workers ask at once: one gets it.
    got = await asyncio.gather(
        claim(STORE_CHAT, day, leader, "a", now, now + 40),
        claim(STORE_CHAT, day, leader, "b", now, now + 40),
    )
    assert sorted(got, key=str) == [0, None]
    holder = "a" if got[0] == 0 else "b"
    other = "b" if holder == "a" else "a"
    assert await claim(STORE_CHAT, day, leader, other, now + 39, now + 79) is None
    # The holder restarted (the same worker's name) takes it back at once.
    assert await claim(STORE_CHAT, day, leader, holder, now + 2, now + 40) == 0
    assert await reports.note_summary_part(
        STORE_CHAT, day, leader, holder, 1, now=now + 1, done=False
    )
    # The holder is killed: once its lease has run out the other takes it, from message 2.
    assert await claim(STORE_CHAT, day, leader, other, now + 40, now + 80) == 1
    assert not await reports.note_summary_part(
        STORE_CHAT, day, leader, holder, 2, now=now + 41, done=True
    ), "the lapsed claim is no longer the killed worker's"
    assert await reports.renew_summary_claims(other, now + 200) == 1
    assert await claim(STORE_CHAT, day, leader, holder, now + 100, now + 140) is None
    assert await reports.note_summary_part(STORE_CHAT, day, leader, other, 2, now=now, done=True)
    assert await reports.summaries_sent(STORE_CHAT, day) == {leader}
    # Sent: nobody claims it again, however late.
    assert await claim(STORE_CHAT, day, leader, holder, now + 10**6, now + 10**6) is None
    assert await reports.renew_summary_claims(other, now + 300) == 0
    # The group marked done drops the claims of earlier days.
    assert await reports.record_summary_sent(STORE_CHAT, "2027-01-16")
    assert await reports.summaries_sent(STORE_CHAT, day) == set()
