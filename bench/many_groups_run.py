"""bench/many_groups.py's harness: the fake Bot API with an overall flood limit, the world
it knows (groups, people, the cards the store names), the bot process with its clock
set, and the member who keeps tapping in a quiet group."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.flash_harness import (
    TOKEN,
    BenchAPI,
    BenchError,
    Check,
    base_env,
    log_line,
    spawn,
    stop_process,
    tail,
)
from bench.many_groups_store import Layout
from bot.core import callbacks
from tests.fakeapi import JSON

OVERALL_RATE = 30.0  # messages a second, Telegram's overall limit
OVERALL_BURST = 35.0  # what the fake lets through at once (the bot's own burst is 30)
QUIET_USERS = 9_000_000  # the tapping members' ids start here


class ManyAPI(BenchAPI):
    """The flash sale's fake API, refusing sends past about 30 a second overall too."""

    def __init__(self) -> None:
        super().__init__()
        self.limit_per_group_per_minute = 20
        self._level = 0.0
        self._checked = time.monotonic()

    def _inject_faults(self, method: str, params: JSON) -> None:
        super()._inject_faults(method, params)
        if method not in self.flood_methods:
            return
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._checked) * OVERALL_RATE)
        self._checked = now
        if self._level + 1 > OVERALL_BURST:
            raise self._too_many(1)
        self._level += 1

    @property
    def floods(self) -> int:
        """Requests refused with 429."""
        return sum(1 for r in self.requests if r.status == 429)


@dataclass
class World:
    """What the benchmark taps on: the quiet group's deal and its card."""

    quiet_chat: int
    quiet_deal: int
    card_id: int
    join: str


def populate(api: ManyAPI, layout: Layout, db: Path) -> World:
    """Every group with its leader as creator, every member having started the bot, and
    the cards the store names (the storm groups' and the quiet group's)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        cards = conn.execute(
            "SELECT chat_id, card_message_id, id FROM deals WHERE status = 'open'"
            " AND chat_id IN (" + ",".join("?" * (layout.storm + 1)) + ") ORDER BY id",
            card_chats(layout),
        ).fetchall()
    return populate_cards(api, layout, cards)


def card_chats(layout: Layout) -> list[int]:
    """The chats whose cards the fake API must know: the storm groups and the quiet one."""
    return [*(layout.chat(n) for n in layout.storm_groups()), layout.chat(layout.quiet_group)]


def populate_cards(api: ManyAPI, layout: Layout, cards: list[Any]) -> World:
    """populate() with the (chat_id, card_message_id, deal_id) rows read already."""
    for k in range(layout.members):
        api.user(layout.member(k), f"M{k}", language_code="en")
    api.started_users.update(layout.member(k) for k in range(layout.members))
    for n in range(layout.groups):
        leader = api.user(layout.leader(n), f"Leader{n}", language_code="en")
        api.started_users.add(leader["id"])
        api.group(layout.chat(n), f"Group {n}", creator=leader)
    quiet = layout.chat(layout.quiet_group)
    world: World | None = None
    for chat_id, message_id, deal_id in cards:
        chat = api.chats[chat_id]
        while api._next_message_id.get(chat_id, 1) <= message_id:
            message = api._new_message(chat, api.bot_user)
            message["text"] = f"deal {deal_id}"
        if chat_id == quiet and world is None:
            join = callbacks.DEAL.data(callbacks.Action.JOIN, deal_id)
            message = api._messages[chat_id][message_id]
            message["reply_markup"] = {
                "inline_keyboard": [[{"text": "Join", "callback_data": join}]]
            }
            world = World(quiet, deal_id, message_id, join)
    assert world is not None
    return world


def read_store(db: Path) -> dict[str, Any]:
    """What the storm deals hold, and the quiet deal's orders."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT o.user_id, d.title FROM orders o JOIN deals d ON d.id = o.deal_id"
            " WHERE d.title LIKE 'Storm %' AND o.status <> 'cancelled'"
        ).fetchall()
        formed = conn.execute(
            "SELECT COUNT(*) FROM rounds r JOIN deals d ON d.id = r.deal_id"
            " WHERE d.title LIKE 'Storm %' AND r.status = 'formed'"
        ).fetchone()[0]
        units = conn.execute(
            "SELECT COALESCE(SUM(o.quantity), 0) FROM orders o JOIN deals d ON d.id = o.deal_id"
            " WHERE d.title LIKE 'Storm %' AND o.status = 'confirmed'"
        ).fetchone()[0]
        quiet = conn.execute(
            "SELECT COUNT(*) FROM orders WHERE user_id >= ? AND status <> 'cancelled'",
            (QUIET_USERS,),
        ).fetchone()[0]
    return {
        "storm_orders": {(int(user), int(title.split()[1])) for user, title in rows},
        "storm_formed": int(formed),
        "storm_confirmed_units": int(units),
        "quiet_orders": int(quiet),
    }


class Bot:
    """`python -m bot` on one store file, its clock showing `clock_at` when first spawned
    (and running on from there across restarts)."""

    def __init__(self, api: ManyAPI, db: Path, workdir: Path, *, clock_at: float) -> None:
        self.api = api
        self.db = db
        self.log = workdir / f"{db.stem}.log"
        self.workdir = workdir
        self.offset = clock_at - time.time()
        self.process: asyncio.subprocess.Process | None = None
        self.spawned = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def real_time(self, moment: float) -> float:
        """The time.monotonic() at which the bot's clock shows `moment`."""
        return time.monotonic() + (moment - self.offset - time.time())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Bot]:
        env = base_env() | {
            "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
            "GROUPBUY_TELEGRAM__BASE_URL": self.api.base_url,
            "GROUPBUY_TELEGRAM__POLL_TIMEOUT": "1",
            "GROUPBUY_TELEGRAM__FLOOD_CONTROL": "true",
            "GROUPBUY_STORAGE__PATH": str(self.db),
            "GROUPBUY_CLOCK_OFFSET": f"{self.offset:.3f}",
        }
        self.spawned = time.monotonic()
        self.process = await spawn([sys.executable, "-m", "bot"], env, self.workdir, self.log)
        try:
            yield self
        finally:
            outcome = await stop_process(self.process)
            log_line(f"bot stopped: {outcome}")

    async def kill(self) -> None:
        """SIGKILL, as a crash: nothing the bot was doing is finished."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def check_alive(self, what: str) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise BenchError(
                f"the bot exited ({self.process.returncode}) before {what}:\n{tail(self.log)}"
            )


class Running(Protocol):
    """A bot, or several workers: what the phases ask of them."""

    spawned: float

    def check_alive(self, what: str) -> None: ...


class Phase:
    """Waiting, bounded, for what the fake API has seen."""

    def __init__(self, api: ManyAPI) -> None:
        self.api = api

    async def wait(
        self,
        done: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 - one deadline for a polled condition
        what: str,
        bot: Running,
    ) -> bool:
        """Poll `done` twice a second; False at the timeout (the checks then say what)."""
        deadline = time.monotonic() + timeout
        while not done():
            bot.check_alive(what)
            if time.monotonic() > deadline:
                log_line(f"timed out after {timeout:.0f} s waiting for {what}")
                return False
            await asyncio.sleep(0.5)
        return True


@dataclass
class Taps:
    """Members tapping Join on the quiet group's card, each a new member."""

    api: ManyAPI
    world: World
    pushed: dict[str, float] = field(default_factory=dict)
    next_user: int = QUIET_USERS

    def tap(self) -> str:
        user = self.next_user
        self.next_user += 1
        self.api.user(user, f"Q{user}", language_code="en")
        self.api.started_users.add(user)
        query = self.api.tap(self.world.quiet_chat, user, self.world.card_id, self.world.join)
        self.pushed[query] = time.monotonic()
        return query

    async def first_answer(self, bot: Running, timeout: float) -> float:  # noqa: ASYNC109
        """Tap at once; seconds from the bot's spawn to that tap's answer."""
        query = self.tap()
        deadline = time.monotonic() + timeout
        while not self.api.answers.get(query):
            bot.check_alive("the first answer")
            if time.monotonic() > deadline:
                raise BenchError(f"no answer to a tap within {timeout:g} s of start")
            await asyncio.sleep(0.01)
        return self.answered()[query] - bot.spawned

    async def steadily(self, rate: float) -> None:
        """A tap every 1/rate seconds until cancelled."""
        while True:
            self.tap()
            await asyncio.sleep(1 / rate)

    async def settle(self) -> None:
        """Nothing to wait for: the bot has stopped."""

    def answered(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for record in self.api.requests:
            if record.method == "answerCallbackQuery":
                query = str(record.params.get("callback_query_id"))
                if query in self.pushed and query not in out:
                    out[query] = record.at
        return out

    def latencies(self) -> list[tuple[float, float]]:
        """(when pushed, seconds to its answer) of every answered tap."""
        answered = self.answered()
        return [(self.pushed[q], at - self.pushed[q]) for q, at in answered.items()]

    def checks(self, store: dict[str, Any]) -> list[Check]:
        answers = {q: self.api.answers.get(q, []) for q in self.pushed}
        # The last tap may be pushed just as the bot stops: it is answered after restart.
        unanswered = sum(1 for a in answers.values() if not a)
        twice = sum(1 for a in answers.values() if len(a) > 1)
        return [
            Check(
                "quiet taps answered once",
                unanswered <= 1 and twice == 0,
                f"{len(answers) - unanswered} of {len(answers)} answered, {twice} twice",
            ),
            Check(
                "quiet taps' orders stored",
                store["quiet_orders"] == len(answers) - unanswered,
                f"{store['quiet_orders']} orders for {len(answers) - unanswered} answered taps",
            ),
        ]


# A message Telegram accepted this long before a kill may not have been noted as sent.
IN_FLIGHT = 1.0


class Summaries:
    """The daily summaries the fake API saw go to a set of leaders, due at `due`."""

    def __init__(self, api: ManyAPI, leaders: set[int], due: float) -> None:
        self.api = api
        self.leaders = leaders
        self.due = due

    def told(self) -> set[int]:
        """The leaders who got at least one message so far."""
        return {int(r.params["chat_id"]) for r in self._sent()}

    def _sent(self) -> list[Any]:
        return [
            r
            for r in self.api.requests
            if r.method == "sendMessage" and r.ok and r.params.get("chat_id") in self.leaders
        ]

    def figures(self, killed_at: float | None = None) -> tuple[dict[str, Any], list[Check]]:
        """Messages, times to the first and the last (after `due`), and the checks: every
        leader got theirs, none twice — but a message Telegram accepted in the second
        before a kill (`killed_at`), which the bot may not have noted yet: it can go
        again after the restart (the README says so), and is counted apart."""
        sent: dict[int, list[str]] = {}
        first_at: dict[tuple[int, str], float] = {}
        again: set[tuple[int, str]] = set()
        for r in self._sent():
            key = (int(r.params["chat_id"]), str(r.params["text"]))
            sent.setdefault(key[0], []).append(key[1])
            if key in first_at:
                again.add(key)
            first_at.setdefault(key, r.at)
        in_flight = {
            key
            for key in again
            if killed_at is not None and killed_at - IN_FLIGHT <= first_at[key] <= killed_at
        }
        times = [r.at for r in self._sent()]
        first, last = min(times, default=self.due), max([self.due, *times])
        twice = len({chat for chat, _ in again - in_flight})
        messages = sum(len(texts) for texts in sent.values())
        figures = {
            "leaders": len(self.leaders),
            "messages": messages,
            "to_first_s": round(first - self.due, 1),
            "to_last_s": round(last - self.due, 1),
            "needed_at_30_per_s": round(messages / 30, 1),
            "sent_again_in_flight_at_kill": len(in_flight),
            "last": last,
        }
        checks = [
            Check(
                "every leader got the summary",
                set(sent) == self.leaders,
                f"{len(set(sent) & self.leaders)} of {len(self.leaders)}",
            ),
            Check(
                "no summary twice",
                twice == 0,
                f"{twice} leaders got one twice"
                f" (apart from {len(in_flight)} in flight at the kill)",
            ),
        ]
        return figures, checks
