"""Flash-sale benchmark: N members tap Join on one deal at the same moment.

The real bot (`python -m bot`, configured by GROUPBUY_* variables) runs as a separate
process against the tests' fake Bot API (`tests/fakeapi.py`), which runs in this process's
event loop on 127.0.0.1. A leader posts one deal (stock 500, limit 1, min 10, rounds mode);
N members (default 1,000) who have started the bot tap Join at once. The same burst then
goes to a bare python-telegram-bot Application that only answers taps
(`bench/ceiling_bot.py`), the framework's ceiling on this machine.

Printed: taps per second until the last answer, p50/p95/p99 tap-to-answer latency (from the
moment the fake API queued the callback update to the moment it received
answerCallbackQuery for it), requests by method, 429s, card edits and the shortest interval
between two of them, peak RSS of each bot process, the ratio to the ceiling, and whether
the outcome is correct (every unit confirmed, every tap answered exactly once). The exit
code is 1 if the outcome is incorrect or the benchmark could not run; timing targets never
change it.

    .venv/bin/python bench/flash_sale.py               # 1,000 members, production settings
    .venv/bin/python bench/flash_sale.py --quick       # 100 members, stock 50 (smoke test)
    .venv/bin/python bench/flash_sale.py --flood --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/flash_sale.py` puts bench/ first on the path; the fake API lives in tests/.
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from bot.texts import Texts  # noqa: E402
from tests.fakeapi import EDIT_METHODS, JSON, FakeBotAPI, Recorded  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "groupbuy_bench_bot"
GROUP_ID = -1009876543210
LEADER_ID = 1001
FIRST_MEMBER_ID = 100_001

# What `concurrent_updates(True)` and the default HTTP pool mean in python-telegram-bot 22.
PTB_CONCURRENCY = 256
PTB_POOL = 256

TARGET_RATIO = 0.6
TARGET_P99 = 1.0
TARGET_EDIT_INTERVAL = 3.0

START_TIMEOUT = 30.0  # process start until its first getUpdates
STEP_TIMEOUT = 30.0  # posting the card, the bot becoming idle
GRACE = 0.5  # after the last answer, time for a second answer to a tap to show up
STOP_TIMEOUT = 5.0  # SIGTERM until SIGKILL
OVERALL_TIMEOUT = 900.0


# How the English round_formed template announces a round.
ROUND_FORMED = re.compile(r"round \d+ formed with")


class BenchError(Exception):
    """The benchmark could not run (a process died, a step timed out)."""


# --------------------------------------------------------------------------------------------
# The fake API, instrumented


class BenchAPI(FakeBotAPI):
    """The tests' fake Bot API, also telling when the bot is idle and when every tap is answered.

    It hooks three of the fake's internals, because the fake records a request only once it
    has been answered, and a long poll is answered only when it ends.
    """

    def __init__(self) -> None:
        super().__init__(token=TOKEN, bot_username=BOT_USERNAME)
        self.in_flight = 0
        self.polling = 0
        self.poll_started: list[float] = []
        self._awaited: set[str] = set()
        self._all_answered = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        """Count requests under way."""
        self.in_flight += 1
        try:
            return await super()._handle(request)
        finally:
            self.in_flight -= 1

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Count long polls under way and note when each began."""
        self.polling += 1
        self.poll_started.append(time.monotonic())
        try:
            return await super()._get_updates(params)
        finally:
            self.polling -= 1

    def _answer_callback_query(self, params: JSON) -> bool:
        """Answer as the fake does; set the event once every awaited query has its answer."""
        answered = super()._answer_callback_query(params)  # raises for a second answer
        if self._awaited:
            self._awaited.discard(str(params.get("callback_query_id", "")))
            if not self._awaited:
                self._all_answered.set()
        return answered

    def await_answers(self, query_ids: Iterable[str]) -> asyncio.Event:
        """An event set once each of these queries has been answered."""
        self._awaited = {q for q in query_ids if not self.answers.get(q)}
        self._all_answered = asyncio.Event()
        if not self._awaited:
            self._all_answered.set()
        return self._all_answered

    def idle_since(self, moment: float) -> bool:
        """No update waiting, and nothing under way but a long poll begun after `moment`."""
        return (
            self.polling > 0
            and self.in_flight == self.polling
            and self.poll_started[-1] > moment
            and not self.pending_updates()
        )


# --------------------------------------------------------------------------------------------
# Options and results


@dataclass(frozen=True)
class Options:
    """What to run."""

    members: int
    stock: int
    min_members: int
    limit: int
    flood: bool
    flood_control: bool
    card_edit_interval: float
    poll_timeout: float
    drain: float
    timeout: float
    ceiling: bool
    ceiling_concurrency: int | None
    ceiling_pool: int | None
    ceiling_transport: str
    json: bool
    profile: Path | None
    store: str = "sqlite"
    workers: int = 1

    @property
    def taken(self) -> int:
        """Units the burst should reserve: each member takes one until the stock runs out."""
        return min(self.stock, self.members * self.limit)

    @property
    def confirmed(self) -> int:
        """Units in rounds that formed; a last round short of min stays open, pending."""
        units_per_round = self.min_members * self.limit
        return self.taken - self.taken % units_per_round

    @property
    def rounds(self) -> int:
        """Rounds the burst should form."""
        return self.confirmed // (self.min_members * self.limit)

    @property
    def sells_out(self) -> bool:
        """Whether the deal should end closed, its card without buttons."""
        return self.taken == self.stock and self.confirmed == self.taken


@dataclass
class Burst:
    """One burst of taps: when each was queued and when the fake received its answer."""

    pushed: dict[str, float]
    answered: dict[str, float]
    answers: dict[str, list[JSON]]
    complete: bool
    bot_cpu: float | None  # CPU seconds the bot process used from first tap to last answer
    fake_cpu: float  # CPU seconds this process (the fake API) used meanwhile

    @property
    def start(self) -> float:
        """When the first tap was queued."""
        return min(self.pushed.values())

    @property
    def end(self) -> float:
        """When the last answer arrived (or the start, if none did)."""
        return max(self.answered.values(), default=self.start)

    @property
    def seconds(self) -> float:
        """First tap queued to last answer received."""
        return self.end - self.start

    @property
    def rate(self) -> float:
        """Answered taps per second over the burst."""
        return len(self.answered) / self.seconds if self.seconds > 0 else 0.0

    def latencies(self) -> list[float]:
        """Tap-to-answer seconds of every answered tap, sorted."""
        return sorted(self.answered[q] - self.pushed[q] for q in self.answered)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies (0 if none)."""
        values = self.latencies()
        if not values:
            return 0.0
        return values[max(0, math.ceil(p / 100 * len(values)) - 1)]

    def figures(self) -> dict[str, Any]:
        """The burst's figures for the report."""
        return {
            "taps": len(self.pushed),
            "answered": len(self.answered),
            "seconds": round(self.seconds, 3),
            "taps_per_second": round(self.rate, 1),
            "p50": round(self.percentile(50), 4),
            "p95": round(self.percentile(95), 4),
            "p99": round(self.percentile(99), 4),
            "max": round(self.percentile(100), 4),
            "bot_cpu_seconds": None if self.bot_cpu is None else round(self.bot_cpu, 3),
            "fake_api_cpu_seconds": round(self.fake_cpu, 3),
        }


@dataclass
class Check:
    """One correctness check."""

    name: str
    ok: bool
    detail: str


@dataclass
class BotRun:
    """What the groupbuy-bot run measured."""

    burst: Burst
    requests: list[Recorded]
    card_id: int
    card_snapshot: JSON
    join_data: str
    peak_rss_kb: int | None
    stop: str
    card_final_after: float | None
    drained_at: float  # when the drain ended, before the bot was told to stop
    store: dict[str, int]
    checks: list[Check] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        """Whether every correctness check passed."""
        return all(check.ok for check in self.checks)


@dataclass
class CeilingRun:
    """What the bare-framework run measured."""

    burst: Burst
    peak_rss_kb: int | None
    stop: str


# --------------------------------------------------------------------------------------------
# Processes


def log_line(text: str) -> None:
    """Progress on stderr, so that stdout carries only the report."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


async def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> asyncio.subprocess.Process:
    """Start a process with its output in a log file."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


def base_env() -> dict[str, str]:
    """This environment without GROUPBUY_* settings, with the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPBUY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def peak_rss_kb(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM) in kB, if Linux tells."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used, if Linux tells."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        # Fields after the command name (which may hold spaces) start at the state field.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


async def stop_process(process: asyncio.subprocess.Process) -> str:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT; says which."""
    if process.returncode is not None:
        return f"had exited ({process.returncode})"
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        # The bot finishes pending notifications before it exits: killed means work was left.
        return f"killed after {STOP_TIMEOUT:g} s"
    return "clean" if code == 0 else f"exit code {code}"


@contextlib.asynccontextmanager
async def profiled(pid: int, out: Path | None) -> AsyncIterator[None]:
    """Sample the process with py-spy meanwhile (raw collapsed stacks to `out`), if asked."""
    if out is None:
        yield
        return
    spy_exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [spy_exe, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
    try:
        spy = await asyncio.create_subprocess_exec(
            *argv,
            "-o",
            str(out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise BenchError(f"--profile needs py-spy: {exc}") from None
    await asyncio.sleep(1.0)  # py-spy needs a moment to attach
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            await asyncio.wait_for(spy.wait(), STOP_TIMEOUT)
        except TimeoutError:
            spy.kill()
            await spy.wait()
        log_line(f"profile written to {out}")


def tail(log: Path, lines: int = 25) -> str:
    """The last lines of a log, for an error message."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109 - one deadline for a polled condition
    what: str,
    process: asyncio.subprocess.Process,
    log: Path,
) -> None:
    """Poll a condition; fail early with the log if the process dies, or at the timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.returncode is not None:
            raise BenchError(f"process exited ({process.returncode}) before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}:\n{tail(log)}")
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------------
# The story


def populate(api: BenchAPI, members: int) -> list[int]:
    """The group, its leader (creator, so an admin) and members; all have started the bot."""
    leader = api.user(LEADER_ID, "Lena", username="lena", language_code="en")
    ids = list(range(FIRST_MEMBER_ID, FIRST_MEMBER_ID + members))
    for uid in ids:
        api.user(uid, f"Member{uid}", language_code="en")
    api.group(GROUP_ID, "Flash sale", creator=leader, members=ids)
    api.started_users.update([LEADER_ID, *ids])
    return ids


def deal_form(opts: Options) -> str:
    """The leader's /deal message."""
    return (
        "/deal Flash sale mangoes, 5 kg box\n"
        "price: 9.90\n"
        f"min: {opts.min_members}\n"
        "deadline: 1d\n"
        f"stock: {opts.stock}\n"
        f"limit: {opts.limit}\n"
        "mode: rounds\n"
        "note: Pickup Saturday 10:00-12:00"
    )


async def tap_burst(
    api: BenchAPI,
    pid: int,
    members: list[int],
    card_id: int,
    data: str,
    timeout: float,  # noqa: ASYNC109 - one deadline for the whole burst
) -> Burst:
    """Every member taps at once; wait (bounded) until every tap is answered."""
    pushed: dict[str, float] = {}
    bot_cpu, fake_cpu = cpu_seconds(pid), time.process_time()
    # No await in this loop: every tap is queued before the bot's poll can return.
    for uid in members:
        at = time.monotonic()
        pushed[api.tap(GROUP_ID, uid, card_id, data)] = at
    done = api.await_answers(pushed)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    bot_used = cpu_seconds(pid)
    if bot_cpu is not None and bot_used is not None:
        bot_cpu = bot_used - bot_cpu
    fake_cpu = time.process_time() - fake_cpu
    await asyncio.sleep(GRACE)  # a tap answered twice shows up now
    answered: dict[str, float] = {}
    for record in api.requests:
        if record.method == "answerCallbackQuery":
            query_id = str(record.params.get("callback_query_id"))
            if query_id in pushed and query_id not in answered:
                answered[query_id] = record.at
    answers = {q: list(api.answers.get(q, [])) for q in pushed}
    return Burst(pushed, answered, answers, done.is_set(), bot_cpu, fake_cpu)


def find_button(api: BenchAPI, card_id: int, label: str) -> str:
    """The callback data of the card's button with this label."""
    for text, data in api.buttons(GROUP_ID, card_id):
        if text == label or label.lower() in text.lower():
            return str(data)
    raise BenchError(f"no {label!r} button on the card: {api.buttons(GROUP_ID, card_id)}")


def public_copy(message: JSON) -> JSON:
    """A message as the Bot API shows it (the fake keeps test-only keys beside)."""
    return {k: v for k, v in message.items() if k not in ("html", "deleted")}


async def run_groupbuy(opts: Options, workdir: Path) -> BotRun:
    """Post the deal, burst, drain, stop; then read the store and check the outcome."""
    db, log = workdir / "bot.db", workdir / "bot.log"
    async with BenchAPI() as api:
        if opts.flood:
            api.limit_per_group_per_minute = 20  # Telegram's 20 messages a minute in a group
        members = populate(api, opts.members)
        env = base_env() | {
            "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
            "GROUPBUY_TELEGRAM__BASE_URL": api.base_url,
            "GROUPBUY_TELEGRAM__POLL_TIMEOUT": f"{opts.poll_timeout:g}",
            "GROUPBUY_TELEGRAM__CARD_EDIT_INTERVAL": f"{opts.card_edit_interval:g}",
            "GROUPBUY_TELEGRAM__FLOOD_CONTROL": "true" if opts.flood_control else "false",
            "GROUPBUY_STORAGE__PATH": str(db),
        }
        log_line("starting groupbuy-bot (python -m bot)")
        process = await spawn([sys.executable, "-m", "bot"], env, workdir, log)
        try:
            await wait_until(lambda: api.polling > 0, START_TIMEOUT, "polling", process, log)
            since = len(api.requests)
            api.send_text(GROUP_ID, LEADER_ID, deal_form(opts))
            await wait_until(
                lambda: any(
                    r.method == "sendMessage" and r.params.get("chat_id") == GROUP_ID
                    for r in api.requests[since:]
                ),
                STEP_TIMEOUT,
                "the deal card",
                process,
                log,
            )
            card = next(
                r
                for r in api.requests[since:]
                if r.method == "sendMessage" and r.params.get("chat_id") == GROUP_ID
            )
            if not card.ok or "reply_markup" not in card.params or not card.result:
                raise BenchError(f"the bot did not post a card: {card.params.get('text')!r}")
            card_id = int(card.result["message_id"])
            join = find_button(api, card_id, Texts().label("join", "en"))
            snapshot = public_copy(api.message(GROUP_ID, card_id))
            await wait_until(
                lambda: api.idle_since(card.at), STEP_TIMEOUT, "an idle poll", process, log
            )

            log_line(f"burst: {opts.members} members tap Join")
            with_profile = opts.profile and opts.profile.with_name(
                opts.profile.name + "-groupbuy.txt"
            )
            async with profiled(process.pid, with_profile):
                burst = await tap_burst(api, process.pid, members, card_id, join, opts.timeout)
            log_line(
                f"burst done: {len(burst.answered)}/{len(burst.pushed)} answered "
                f"in {burst.seconds:.2f} s; draining up to {opts.drain:g} s"
            )
            card_final_after = await drain(api, opts, card_id, burst)
            drained_at = time.monotonic()
            peak = peak_rss_kb(process.pid)
        finally:
            stop = await stop_process(process)
        requests = list(api.requests)
    store = read_store(db)
    run = BotRun(
        burst=burst,
        requests=requests,
        card_id=card_id,
        card_snapshot=snapshot,
        join_data=join,
        peak_rss_kb=peak,
        stop=stop,
        card_final_after=card_final_after,
        drained_at=drained_at,
        store=store,
    )
    run.checks = check(opts, run)
    return run


def sent_to(record: Recorded) -> str | None:
    """ "group" or "private" for a successful sendMessage, else None."""
    if record.method != "sendMessage" or not record.ok:
        return None
    chat_id = record.params.get("chat_id")
    if chat_id == GROUP_ID:
        return "group"
    return "private" if isinstance(chat_id, int) and chat_id > 0 else None


def sends_since(records: Iterable[Recorded], start: float) -> tuple[int, int]:
    """Rounds announced in the group (the bot joins announcements that queue up behind the
    group's limit into one message) and successful private sends, since a moment."""
    rounds = private = 0
    for record in records:
        where = sent_to(record) if record.at >= start else None
        if where == "group":
            rounds += len(ROUND_FORMED.findall(str(record.params.get("text", ""))))
        elif where == "private":
            private += 1
    return rounds, private


async def drain(api: BenchAPI, opts: Options, card_id: int, burst: Burst) -> float | None:
    """Wait (at most opts.drain s) for the notifications and the final card after the burst.

    Returns how long after the first tap the card showed the deal closed, if it did.
    """
    deadline = time.monotonic() + opts.drain

    def card_closed() -> bool:
        return opts.sells_out and not api.buttons(GROUP_ID, card_id)

    while time.monotonic() < deadline:
        rounds, private = sends_since(api.requests, burst.start)
        card_done = card_closed() if opts.sells_out else True
        if rounds >= opts.rounds and private >= opts.confirmed // opts.limit and card_done:
            break
        await asyncio.sleep(0.05)
    if not card_closed():
        return None
    edits = [
        r.at
        for r in api.requests
        if r.method in EDIT_METHODS and r.ok and r.params.get("message_id") == card_id
    ]
    return max(edits) - burst.start if edits else None


def read_store(db: Path) -> dict[str, int]:
    """Units and rounds as the store has them, read after the bot stopped."""
    with contextlib.closing(sqlite3.connect(db)) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        return {
            "deals": one("SELECT COUNT(*) FROM deals"),
            "taken": one("SELECT COALESCE(SUM(taken), 0) FROM deals"),
            "confirmed_units": one(
                "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE status = 'confirmed'"
            ),
            "confirmed_members": one(
                "SELECT COUNT(DISTINCT user_id) FROM orders WHERE status = 'confirmed'"
            ),
            "pending_units": one(
                "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE status = 'pending'"
            ),
            "max_units_per_member": one(
                "SELECT COALESCE(MAX(units), 0) FROM (SELECT SUM(quantity) AS units FROM orders"
                " WHERE status <> 'cancelled' GROUP BY deal_id, user_id)"
            ),
            "rounds_formed": one("SELECT COUNT(*) FROM rounds WHERE status = 'formed'"),
        }


def check(opts: Options, run: BotRun) -> list[Check]:
    """Correctness: the store holds exactly the expected units; each tap answered once."""
    store, burst = run.store, run.burst
    texts = Texts()
    refusals = {
        texts.render("tap_sold_out", "en"),
        texts.render("tap_closed", "en"),
        texts.render("tap_limit", "en", limit=opts.limit),
    }
    apology = texts.render("tap_error", "en")
    first = [answers[0].get("text") or "" for answers in burst.answers.values() if answers]
    joined = sum(1 for text in first if text not in refusals and text != apology)
    twice = sum(1 for answers in burst.answers.values() if len(answers) > 1)
    unanswered = sum(1 for answers in burst.answers.values() if not answers)
    expected_pending = opts.taken - opts.confirmed
    return [
        Check(
            "units confirmed",
            store["confirmed_units"] == opts.confirmed,
            f"{store['confirmed_units']} (expected {opts.confirmed})",
        ),
        Check(
            "members confirmed",
            store["confirmed_members"] == opts.confirmed // opts.limit,
            f"{store['confirmed_members']} (expected {opts.confirmed // opts.limit})",
        ),
        Check(
            "units pending",
            store["pending_units"] == expected_pending,
            f"{store['pending_units']} (expected {expected_pending})",
        ),
        Check(
            "stock reserved",
            store["taken"] == opts.taken,
            f"{store['taken']} of {opts.stock} (expected {opts.taken})",
        ),
        Check(
            "limit per member",
            store["max_units_per_member"] <= opts.limit,
            f"at most {store['max_units_per_member']} (limit {opts.limit})",
        ),
        Check(
            "rounds formed",
            store["rounds_formed"] == opts.rounds,
            f"{store['rounds_formed']} (expected {opts.rounds})",
        ),
        Check(
            "every tap answered",
            unanswered == 0,
            f"{len(burst.pushed) - unanswered}/{len(burst.pushed)}",
        ),
        Check("no tap answered twice", twice == 0, f"{twice} answered more than once"),
        Check("no error answers", apology not in first, f"{first.count(apology)} apologies"),
        Check(
            "join answers match the store",
            joined == opts.taken,
            f"{joined} taps told they are in (expected {opts.taken})",
        ),
    ]


async def run_ceiling(opts: Options, workdir: Path, card: JSON, join: str) -> CeilingRun:
    """The same burst, on the same card, against the bare framework."""
    log = workdir / "ceiling.log"
    async with BenchAPI() as api:
        members = populate(api, opts.members)
        log_line("starting the ceiling bot (python -m bench.ceiling_bot)")
        argv = [sys.executable, "-m", "bench.ceiling_bot", "--base-url", api.base_url]
        argv += ["--token", TOKEN, "--poll-timeout", f"{opts.poll_timeout:g}"]
        for flag, value in (
            ("--concurrency", opts.ceiling_concurrency),
            ("--pool", opts.ceiling_pool),
            ("--transport", opts.ceiling_transport),
        ):
            if value is not None:
                argv += [flag, str(value)]
        process = await spawn(argv, base_env(), workdir, log)
        try:
            await wait_until(lambda: api.polling > 0, START_TIMEOUT, "polling", process, log)
            # The groupbuy card, as it was before its burst, so every update is the same size.
            api.push_update({"message": card})
            pushed = time.monotonic()
            await wait_until(
                lambda: api.idle_since(pushed), STEP_TIMEOUT, "an idle poll", process, log
            )
            log_line(f"ceiling burst: {opts.members} taps")
            card_id = int(card["message_id"])
            with_profile = opts.profile and opts.profile.with_name(
                opts.profile.name + "-ceiling.txt"
            )
            async with profiled(process.pid, with_profile):
                burst = await tap_burst(api, process.pid, members, card_id, join, opts.timeout)
            peak = peak_rss_kb(process.pid)
        finally:
            stop = await stop_process(process)
    return CeilingRun(burst=burst, peak_rss_kb=peak, stop=stop)


# --------------------------------------------------------------------------------------------
# The report


def last_private_after(run: BotRun) -> float | None:
    """Seconds from the first tap to the last successful private message, if any."""
    sent = [r.at for r in run.requests if r.at >= run.burst.start and sent_to(r) == "private"]
    return round(max(sent) - run.burst.start, 2) if sent else None


def request_counts(run: BotRun, until: float | None) -> Counter[str]:
    """Successful requests by method (sendMessage split by chat), up to a moment."""
    counts: Counter[str] = Counter()
    for record in run.requests:
        if record.method == "getUpdates" or not record.ok or record.at < run.burst.start:
            continue
        if until is not None and record.at > until:
            continue
        name = record.method
        if name == "sendMessage":
            chat_id = record.params.get("chat_id")
            name += " (group)" if chat_id == GROUP_ID else " (private)"
        elif name in EDIT_METHODS:
            name += " (card)" if record.params.get("message_id") == run.card_id else " (other)"
        counts[name] += 1
    return counts


def card_edits(run: BotRun) -> tuple[list[float], list[float]]:
    """Times of every card edit attempt, and those within the burst."""
    times = sorted(
        r.at
        for r in run.requests
        if r.method in EDIT_METHODS
        and r.params.get("chat_id") == GROUP_ID
        and r.params.get("message_id") == run.card_id
        and r.at >= run.burst.start
    )
    return times, [t for t in times if t <= run.burst.end]


def build_report(opts: Options, run: BotRun, ceiling: CeilingRun | None) -> dict[str, Any]:
    """Every figure, as the JSON line carries them."""
    edits, burst_edits = card_edits(run)
    intervals = [b - a for a, b in itertools.pairwise(edits)]
    min_interval = min(intervals) if intervals else None
    errors = Counter(
        f"{r.method} {r.status}"
        for r in run.requests
        if not r.ok and r.method != "getUpdates" and r.at >= run.burst.start
    )
    status_429 = sum(1 for r in run.requests if r.status == 429)
    bot = run.burst.figures() | {
        "peak_rss_mb": mb(run.peak_rss_kb),
        "stop": run.stop,
    }
    report: dict[str, Any] = {
        "members": opts.members,
        "stock": opts.stock,
        "min": opts.min_members,
        "limit": opts.limit,
        "card_edit_interval": opts.card_edit_interval,
        "flood_control": opts.flood_control,
        "fake_flood_model": opts.flood,
        "drain_seconds": opts.drain,
        "ceiling_concurrency": opts.ceiling_concurrency or PTB_CONCURRENCY,
        "ceiling_pool": opts.ceiling_pool or PTB_POOL,
        "ceiling_transport": opts.ceiling_transport,
        "groupbuy": bot,
        "ceiling": None,
        "ratio": None,
        "requests_during_burst": dict(sorted(request_counts(run, run.burst.end).items())),
        "requests_by_end_of_drain": dict(sorted(request_counts(run, run.drained_at).items())),
        "requests_total": dict(sorted(request_counts(run, None).items())),
        "last_private_after": last_private_after(run),
        "errors": dict(sorted(errors.items())),
        "status_429": status_429,
        "card": {
            "message_id": run.card_id,
            "edits_total": len(edits),
            "edits_during_burst": len(burst_edits),
            "min_interval": round(min_interval, 3) if min_interval is not None else None,
            "final_after": round(run.card_final_after, 2) if run.card_final_after else None,
        },
        "rounds_announced": sends_since(run.requests, run.burst.start)[0],
        "expected": {
            "rounds_announced": opts.rounds,
            "private_messages": opts.confirmed // opts.limit,
        },
        "store": run.store,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in run.checks},
        "correct": run.correct,
    }
    if ceiling is not None:
        report["ceiling"] = ceiling.burst.figures() | {
            "peak_rss_mb": mb(ceiling.peak_rss_kb),
            "stop": ceiling.stop,
        }
        if ceiling.burst.rate > 0:
            report["ratio"] = round(run.burst.rate / ceiling.burst.rate, 3)
    ratio, p99 = report["ratio"], run.burst.percentile(99)
    report["targets"] = {
        "ratio_at_least_0.6": None if ratio is None else ratio >= TARGET_RATIO,
        "p99_under_1s": p99 < TARGET_P99,
        "card_edit_at_most_every_3s": min_interval is None or min_interval >= TARGET_EDIT_INTERVAL,
        "correct": run.correct,
    }
    return report


def mb(kb: int | None) -> float | None:
    """kB as MB, one decimal."""
    return None if kb is None else round(kb / 1024, 1)


def seconds(value: float | None) -> str:
    """A duration for the table: ms below a second."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def verdict(ok: bool | None) -> str:
    """A target's verdict."""
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def print_report(report: dict[str, Any]) -> None:
    """The human-readable table."""
    bot, ceiling = report["groupbuy"], report["ceiling"] or {}
    card = report["card"]
    print(
        f"Flash sale: {report['members']} members tap Join at once "
        f"(stock {report['stock']}, limit {report['limit']}, min {report['min']}, rounds mode)"
    )
    print(
        f"bot: card_edit_interval {report['card_edit_interval']:g} s, flood control "
        f"{'on' if report['flood_control'] else 'off'}; fake API flood model "
        f"{'on (20/min per group)' if report['fake_flood_model'] else 'off'}"
    )
    if report["ceiling"] is not None:
        print(
            "ceiling: bare python-telegram-bot Application answering taps, "
            f"{report['ceiling_concurrency']} concurrent updates, "
            f"HTTP pool {report['ceiling_pool']}, {report['ceiling_transport']} transport"
        )
    print()
    rows: list[tuple[str, str, str]] = [
        ("taps answered", f"{bot['answered']}/{bot['taps']}", cell(ceiling, "answered", str)),
        ("first tap → last answer", seconds(bot["seconds"]), cell(ceiling, "seconds", seconds)),
        ("taps per second", f"{bot['taps_per_second']:.0f}", cell(ceiling, "taps_per_second")),
        ("latency p50", seconds(bot["p50"]), cell(ceiling, "p50", seconds)),
        ("latency p95", seconds(bot["p95"]), cell(ceiling, "p95", seconds)),
        ("latency p99", seconds(bot["p99"]), cell(ceiling, "p99", seconds)),
        ("latency max", seconds(bot["max"]), cell(ceiling, "max", seconds)),
        (
            "bot CPU in burst",
            seconds(bot["bot_cpu_seconds"]),
            cell(ceiling, "bot_cpu_seconds", seconds),
        ),
        (
            "fake API CPU in burst",
            seconds(bot["fake_api_cpu_seconds"]),
            cell(ceiling, "fake_api_cpu_seconds", seconds),
        ),
        ("peak RSS (VmHWM)", f"{bot['peak_rss_mb']} MB", cell(ceiling, "peak_rss_mb", "{} MB")),
        ("stop", bot["stop"], cell(ceiling, "stop", str)),
    ]
    print(f"{'':26}{'groupbuy-bot':>22}{'PTB ceiling':>22}")
    for name, ours, theirs in rows:
        print(f"{name:26}{ours:>22}{theirs:>22}")
    ratio = report["ratio"]
    print(f"{'ratio (ours / ceiling)':26}{'-' if ratio is None else f'{ratio:.2f}':>22}")
    if bot["stop"] != "clean":
        print("(groupbuy-bot was still sending notifications and card edits when it was stopped)")
    print()
    during, drained = report["requests_during_burst"], report["requests_by_end_of_drain"]
    total = report["requests_total"]
    print(f"{'successful requests':30}{'during burst':>14}{'by end of drain':>17}{'in all':>9}")
    for name in sorted(set(during) | set(total)):
        counts = during.get(name, 0), drained.get(name, 0), total.get(name, 0)
        print(f"  {name:28}{counts[0]:>14}{counts[1]:>17}{counts[2]:>9}")
    errors = ", ".join(f"{k}: {v}" for k, v in report["errors"].items()) or "none"
    print(f"  errors: {errors}; 429s received: {report['status_429']}")
    expected = report["expected"]
    print(
        f"  rounds announced in the group: {report['rounds_announced']} "
        f"(expected {expected['rounds_announced']}); "
        f"private confirmations expected: {expected['private_messages']} "
        f"(drain waited up to {report['drain_seconds']:g} s)"
    )
    last = report["last_private_after"]
    if last is not None:
        print(
            f"  the last private confirmation went {seconds(last)} after the first tap "
            "(Telegram takes about 30 messages a second from a bot)"
        )
    print()
    final = card["final_after"]
    print(
        f"card #{card['message_id']}: {card['edits_total']} edits "
        f"({card['edits_during_burst']} during the burst), shortest interval between two "
        f"{seconds(card['min_interval'])}; shows the final state "
        f"{'after ' + seconds(final) if final is not None else 'not within the drain'}"
    )
    store = report["store"]
    print(
        f"store: {store['confirmed_units']} units confirmed by {store['confirmed_members']} "
        f"members in {store['rounds_formed']} rounds, {store['pending_units']} pending, "
        f"{store['taken']} reserved"
    )
    print()
    print("correctness")
    for name, result in report["checks"].items():
        print(f"  {name:32}{result['detail']:44}{'ok' if result['ok'] else 'WRONG'}")
    print()
    targets = report["targets"]
    print("targets")
    print(
        f"  {'taps/s ≥ 0.6 × ceiling':32}{'-' if ratio is None else f'{ratio:.2f}':44}"
        f"{verdict(targets['ratio_at_least_0.6'])}"
    )
    print(f"  {'p99 < 1 s':32}{seconds(bot['p99']):44}{verdict(targets['p99_under_1s'])}")
    print(
        f"  {'≤ 1 card edit per 3 s':32}{'shortest ' + seconds(card['min_interval']):44}"
        f"{verdict(targets['card_edit_at_most_every_3s'])}"
    )
    print(f"  {'correct':32}{'yes' if report['correct'] else 'NO':44}{verdict(targets['correct'])}")


def cell(figures: dict[str, Any], key: str, fmt: Callable[[Any], str] | str = "{:.0f}") -> str:
    """A ceiling column cell, '-' when the ceiling did not run."""
    if key not in figures or figures[key] is None:
        return "-"
    return fmt(figures[key]) if callable(fmt) else fmt.format(figures[key])


# --------------------------------------------------------------------------------------------
# Entry point


def parse_options(argv: list[str] | None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="flash_sale", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--members", type=int, help="members tapping (default 1000)")
    parser.add_argument("--stock", type=int, help="units in stock (default 500)")
    parser.add_argument("--min", type=int, default=10, help="members a round needs (default 10)")
    parser.add_argument("--quick", action="store_true", help="100 members, stock 50 (smoke test)")
    parser.add_argument(
        "--flood", action="store_true", help="fake API answers 429 past 20 messages/min per group"
    )
    parser.add_argument(
        "--no-flood-control", action="store_true", help="turn the bot's flood control off"
    )
    parser.add_argument(
        "--card-edit-interval", type=float, default=3.0, help="bot setting (default 3 s)"
    )
    parser.add_argument(
        "--poll-timeout", type=float, default=1.0, help="long-poll seconds, both bots (default 1)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        help="seconds to wait after the burst for notifications and the final card "
        "(default 30, time for 500 confirmations at 30 a second; 3 with --quick)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for every answer"
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare PTB run")
    parser.add_argument(
        "--ceiling-concurrency",
        type=int,
        help="the ceiling bot's concurrent updates (default: PTB's, 256, as the bot)",
    )
    parser.add_argument(
        "--ceiling-pool", type=int, help="the ceiling bot's HTTP pool size (default: PTB's, 256)"
    )
    parser.add_argument(
        "--ceiling-transport",
        choices=("httpx", "bot"),
        default="httpx",
        help="the ceiling bot's transport: httpx (PTB's defaults) or bot (groupbuy-bot's requests)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite (default) or a postgresql://… URL: the run then uses webhook workers",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="webhook workers sharing PostgreSQL (default 1)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PREFIX",
        help="sample each bot with py-spy during its burst; writes PREFIX-groupbuy.txt and "
        "PREFIX-ceiling.txt (raw collapsed stacks); needs py-spy on PATH or in the venv",
    )
    args = parser.parse_args(argv)
    members = args.members or (100 if args.quick else 1000)
    stock = args.stock or (50 if args.quick else 500)
    drain = args.drain if args.drain is not None else (3.0 if args.quick else 30.0)
    if members < 1 or stock < 1 or args.min < 1 or stock < args.min:
        parser.error("need members ≥ 1 and stock ≥ min ≥ 1")
    return Options(
        members=members,
        stock=stock,
        min_members=args.min,
        limit=1,
        flood=args.flood,
        flood_control=not args.no_flood_control,
        card_edit_interval=args.card_edit_interval,
        poll_timeout=args.poll_timeout,
        drain=max(0.0, drain),
        timeout=args.timeout,
        ceiling=not args.no_ceiling,
        ceiling_concurrency=args.ceiling_concurrency,
        ceiling_pool=args.ceiling_pool,
        ceiling_transport=args.ceiling_transport,
        json=args.json,
        profile=args.profile,
        store=args.store,
        workers=max(1, args.workers),
    )


async def bench(opts: Options) -> dict[str, Any]:
    """Both runs, in a temporary directory that goes away afterwards."""
    with tempfile.TemporaryDirectory(prefix="flash-sale-") as tmp:
        workdir = Path(tmp)
        run = await run_groupbuy(opts, workdir)
        ceiling = None
        if opts.ceiling:
            ceiling = await run_ceiling(opts, workdir, run.card_snapshot, run.join_data)
        return build_report(opts, run, ceiling)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if the outcome was correct, 1 if not or if it could not run."""
    opts = parse_options(argv)
    if opts.store != "sqlite" or opts.workers > 1:
        return run_workers(opts)
    try:
        report = asyncio.run(asyncio.wait_for(bench(opts), OVERALL_TIMEOUT))
    except (BenchError, TimeoutError) as exc:
        print(f"flash_sale: {exc or 'timed out'}", file=sys.stderr)
        return 1
    print_report(report)
    if opts.json:
        print(json.dumps(report, separators=(",", ":"), ensure_ascii=False))
    return 0 if report["correct"] else 1


def run_workers(opts: Options) -> int:
    """The burst on PostgreSQL over N webhook workers (bench/workers.py)."""
    from bench import workers

    if not opts.store.startswith(("postgresql://", "postgres://")):
        print("flash_sale: --workers needs --store postgresql://…", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="flash-workers-") as folder:
        report = asyncio.run(
            asyncio.wait_for(
                workers.run(opts.store, opts.workers, opts.members, opts.stock, Path(folder)),
                OVERALL_TIMEOUT,
            )
        )
    workers.print_report(report)
    if opts.json:
        print(json.dumps(report, separators=(",", ":")))
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
