"""The flash sale's harness: the fake Bot API instrumented, what a run is asked and what it
measures, and the bot processes (started, watched, profiled, stopped).

Imported by bench/flash_sale.py, which puts the project on the path first.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakeapi import JSON, FakeBotAPI, Recorded

ROOT = Path(__file__).resolve().parent.parent

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
