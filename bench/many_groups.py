"""Thousands of groups on one process: start-up, a deadline storm and the daily summaries.

A generator (bench/many_groups_store.py) builds a big store through the repositories
(10,000 groups, 20,000 open deals, 200,000 orders by default; cached in
~/.cache/groupbuy-bench), and the real bot (`python -m bot`) runs on a copy of it against
the tests' fake Bot API with flood control on: 20 messages a minute in each group and
about 30 a second overall (a leaky bucket of 30, with 5 to spare, modelled here); every
429 is counted. The bot's clock is set (GROUPBUY_CLOCK_OFFSET) so that what the store
holds falls due a few seconds after start.

- **start-up**: from spawning the process to the first answered tap (a Join in a quiet
  group), and the bot's RSS then and at its peak.
- **storm**: 1,000 tipping deals in 1,000 groups share one deadline, each with 10 members:
  1,000 group announcements and 10,000 private confirmations. Printed: time from the
  deadline to the last announcement and to the last confirmation, messages per second,
  429s, and the tap-to-answer latency of a member tapping Join in an unrelated group
  twice a second throughout. Checked: every announcement and confirmation exactly once,
  each group's announcement before its members' confirmations, announcements not kept
  waiting behind private messages (fewer than a tenth of the confirmations go before the
  last announcement), every tap answered once, the stock exact, no 429.
- **summaries**: 2,000 groups' leaders get their daily summary at the same minute; the bot
  is killed (SIGKILL) once half of them have it and started again at once: the summary it
  was sending is claimed until its lease (bot/services/reports.py, SUMMARY_LEASE) runs
  out, then sent from where it stopped. Printed: the time from the summaries' minute to
  the last one, against the time 30 messages a second need. Checked: every leader got
  it, none twice, no 429.

Exit code 1 if a check fails or the run could not be made; timings never change it.

    .venv/bin/python bench/many_groups.py                  # full size, all three parts
    .venv/bin/python bench/many_groups.py --quick          # 200 groups: the test suite's
    .venv/bin/python bench/many_groups.py --parts start,storm --json
    .venv/bin/python bench/many_groups.py --sizes          # curves to bench/many_groups.png
                                                           # (pip install -e ".[bench]")

On PostgreSQL with webhook workers, one of them killed mid-storm and mid-summaries
(bench/many_groups_workers.py; a schema of the run's own, dropped after; 429s counted,
not a failure):

    .venv/bin/python bench/many_groups.py --store postgresql://postgres@127.0.0.1:5432/test \
        --workers 2 --groups 2000 --deals 4000 --orders 40000 --storm 200 --summaries 400
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.flash_harness import BenchError, Check, log_line, peak_rss_kb  # noqa: E402
from bench.many_groups_run import (  # noqa: E402
    Bot,
    ManyAPI,
    Phase,
    Summaries,
    Taps,
    populate,
    read_store,
)
from bench.many_groups_store import (  # noqa: E402
    BASE,
    STORM_AT,
    SUMMARY_AT,
    Layout,
    build,
)

QUICK = Layout(groups=200, open_deals=400, orders=2_000, storm=40, summaries=40)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "groupbuy-bench"


def rss_kb(pid: int) -> int | None:
    """The process's resident set size now (VmRSS), in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------------------------
# Start-up


async def start_up(layout: Layout, db: Path, workdir: Path) -> dict[str, Any]:
    """Time from spawn to the first answered tap, with the clock where nothing is due."""
    async with ManyAPI() as api:
        world = populate(api, layout, db)
        bot = Bot(api, db, workdir, clock_at=BASE)
        taps = Taps(api, world)
        async with bot.running():
            first = await taps.first_answer(bot, timeout=120)
            pid = bot.pid
            rss = rss_kb(pid)
            await asyncio.sleep(2)  # the start's own sweep, if still under way
            peak = peak_rss_kb(pid)
    return {
        "seconds_to_first_answer": round(first, 2),
        "rss_mb_at_first_answer": round((rss or 0) / 1024, 1),
        "peak_rss_mb": round((peak or 0) / 1024, 1),
        "requests_429": api.floods,
    }


# --------------------------------------------------------------------------------------------
# The deadline storm


async def storm(layout: Layout, db: Path, workdir: Path, lead: float) -> dict[str, Any]:
    """The storm deals fall due `lead` seconds after start; wait for every message."""
    expected = read_store(db)["storm_orders"]
    async with ManyAPI() as api:
        world = populate(api, layout, db)
        bot = Bot(api, db, workdir, clock_at=STORM_AT - lead)
        taps = Taps(api, world)
        async with bot.running():
            deadline_real = bot.real_time(STORM_AT)
            await taps.first_answer(bot, timeout=120)
            phase = Phase(api)
            tapping = asyncio.create_task(taps.steadily(rate=2.0))
            try:
                done = await phase.wait(
                    lambda: _storm_done(api, layout, expected),
                    timeout=max(120.0, 0.1 * len(expected) + 2 * layout.storm) + lead,
                    what="the storm's messages",
                    bot=bot,
                )
            finally:
                tapping.cancel()
            await asyncio.sleep(2)  # a message sent twice shows up now
            peak = peak_rss_kb(bot.pid)
        await taps.settle()
    store = read_store(bot.db)
    figures, checks = _storm_figures(api, layout, expected, deadline_real, taps, store)
    figures["complete"] = done
    figures["peak_rss_mb"] = round((peak or 0) / 1024, 1)
    return {"figures": figures, "checks": checks}


def _storm_messages(api: ManyAPI, layout: Layout) -> tuple[dict[int, list[float]], dict]:
    """Announcements by group and confirmations by (member, group), as sent."""
    announced: dict[int, list[float]] = {}
    confirmed: dict[tuple[int, int], list[float]] = {}
    for record in api.requests:
        if record.method != "sendMessage" or not record.ok:
            continue
        text = str(record.params.get("text", ""))
        n = _storm_title(text)
        if n is None:
            continue
        chat = int(record.params["chat_id"])
        if chat < 0 and "confirmed with" in text:
            announced.setdefault(n, []).append(record.at)
        elif chat > 0 and "Your order is confirmed" in text:
            confirmed.setdefault((chat, n), []).append(record.at)
    return announced, confirmed


def _storm_title(text: str) -> int | None:
    start = text.find("Storm ")
    if start < 0:
        return None
    digits = ""
    for ch in text[start + 6 :]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def _storm_done(api: ManyAPI, layout: Layout, expected: set[tuple[int, int]]) -> bool:
    announced, confirmed = _storm_messages(api, layout)
    return len(announced) >= layout.storm and len(confirmed) >= len(expected)


def _storm_figures(
    api: ManyAPI,
    layout: Layout,
    expected: set[tuple[int, int]],
    deadline: float,
    taps: Taps,
    store: dict[str, Any],
) -> tuple[dict[str, Any], list[Check]]:
    announced, confirmed = _storm_messages(api, layout)
    last_announcement = max((max(t) for t in announced.values()), default=deadline)
    last_confirmation = max((max(t) for t in confirmed.values()), default=deadline)
    sends = [
        r
        for r in api.requests
        if r.method in ("sendMessage", "editMessageText") and r.ok and r.at >= deadline
    ]
    end = max(last_announcement, last_confirmation)
    during = [lat for at, lat in taps.latencies() if deadline <= at <= end]
    before_last = sum(1 for times in confirmed.values() if min(times) < last_announcement)
    out_of_order = [
        n
        for n, times in announced.items()
        if any(min(t) < min(times) for (_, m), t in confirmed.items() if m == n)
    ]
    storm_groups = set(layout.storm_groups())
    figures = {
        "deals": layout.storm,
        "confirmations_expected": len(expected),
        "to_last_announcement_s": round(last_announcement - deadline, 1),
        "to_last_confirmation_s": round(last_confirmation - deadline, 1),
        "messages_sent": len(sends),
        "messages_per_second": round(len(sends) / max(end - deadline, 0.001), 1),
        "requests_429": api.floods,
        "confirmations_before_last_announcement": before_last,
        "quiet_taps": len(during),
        "quiet_tap_p50_ms": _ms(during, 50),
        "quiet_tap_p99_ms": _ms(during, 99),
        "quiet_tap_max_ms": _ms(during, 100),
    }
    twice = sum(1 for t in announced.values() if len(t) > 1)
    twice += sum(1 for t in confirmed.values() if len(t) > 1)
    checks = [
        Check(
            "every group announced",
            set(announced) == storm_groups,
            f"{len(announced)} of {len(storm_groups)}",
        ),
        Check(
            "every order confirmed privately",
            set(confirmed) == expected,
            f"{len(set(confirmed) & expected)} of {len(expected)},"
            f" {len(set(confirmed) - expected)} unexpected",
        ),
        Check("no message twice", twice == 0, f"{twice} sent more than once"),
        Check(
            "each announcement before its group's confirmations",
            not out_of_order,
            f"{len(out_of_order)} groups out of order",
        ),
        Check(
            "announcements not kept behind private messages",
            before_last <= len(expected) // 10,
            f"{before_last} confirmations went before the last announcement",
        ),
        Check("no 429", api.floods == 0, f"{api.floods} requests refused"),
        Check(
            "store: rounds formed, units exact",
            store["storm_formed"] == layout.storm
            and store["storm_confirmed_units"] == len(expected),
            f"{store['storm_formed']} formed, {store['storm_confirmed_units']} units confirmed",
        ),
        *taps.checks(store),
    ]
    return figures, checks


def _ms(values: list[float], p: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[max(0, -(-len(ordered) * p // 100) - 1)])


# --------------------------------------------------------------------------------------------
# Daily summaries, with a restart half-way


async def summaries(layout: Layout, db: Path, workdir: Path, lead: float) -> dict[str, Any]:
    """Every summary group's leader gets the day's summary once, across a restart."""
    leaders = {layout.leader(n) for n in layout.summary_groups()}
    # The storm's deals fell due an hour before the summaries: moved a day on, so that
    # this part measures the summaries alone (not the storm's 11,000 messages before them).
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "UPDATE deals SET deadline = deadline + 86400 WHERE title LIKE 'Storm %'"
            " AND status = 'open'"
        )
    async with ManyAPI() as api:
        world = populate(api, layout, db)
        bot = Bot(api, db, workdir, clock_at=SUMMARY_AT - lead)
        due = bot.real_time(SUMMARY_AT)
        taps = Taps(api, world)
        phase = Phase(api)
        got = Summaries(api, leaders, due)
        timeout = lead + 60 + 4 * len(leaders) / 30
        async with bot.running():
            await taps.first_answer(bot, timeout=120)
            await phase.wait(lambda: len(got.told()) >= len(leaders) // 2, timeout, "half", bot)
            await bot.kill()  # as a crash: nothing is finished, the summary half-sent stays so
            killed_at = time.monotonic()
        restarted_after = len(got.told())
        log_line(f"summaries: killed after {restarted_after} leaders; starting again")
        # A supervisor's restart takes a second or more: Telegram's per-second window has
        # passed by then. Started at once, the new process's first second of sends would
        # come on top of the killed one's last (a 429 from the fake's flood control).
        await asyncio.sleep(1.0)
        restarted = time.monotonic()
        async with bot.running():
            complete = await phase.wait(lambda: got.told() >= leaders, timeout, "the rest", bot)
            await asyncio.sleep(2)
        figures, checks = got.figures(killed_at)
    last = figures.pop("last")
    return {
        "figures": figures
        | {
            "leaders_before_restart": restarted_after,
            "restart_to_last_s": round(last - restarted, 1),
            "within_twice_the_limit": (last - due) <= 2 * figures["messages"] / 30,
            "complete": complete,
            "requests_429": api.floods,
        },
        "checks": [*checks, Check("no 429", api.floods == 0, f"{api.floods} requests refused")],
    }


# --------------------------------------------------------------------------------------------
# The command line


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 groups (the test suite's)")
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--deals", type=int, default=20_000, help="open deals")
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--storm", type=int, default=1_000, help="deals sharing one deadline")
    parser.add_argument("--summaries", type=int, default=2_000, help="leaders due at once")
    parser.add_argument("--parts", default="start,storm,summaries")
    parser.add_argument("--lead", type=float, default=30.0, help="start to deadline, seconds")
    parser.add_argument("--no-cache", action="store_true", help="build the store afresh")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    parser.add_argument(
        "--sizes", action="store_true", help="start-up and taps at several sizes, to a PNG"
    )
    parser.add_argument("--deal-sizes", default="1000,10000,100000", help="with --sizes")
    parser.add_argument("--burst-sizes", default="100,1000,10000", help="with --sizes")
    parser.add_argument("--png", default=str(ROOT / "bench" / "many_groups.png"))
    parser.add_argument(
        "--store", default="sqlite", help="sqlite (default) or a postgresql://… URL (workers)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="webhook workers on PostgreSQL (default 2)"
    )
    parser.add_argument("--keep-logs", default="", help="copy the workers' logs to this folder")
    return parser.parse_args(argv)


def sizes_main(args: argparse.Namespace) -> int:
    from bench.many_groups_sizes import run_sizes

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    cache = None if args.no_cache else CACHE
    report = asyncio.run(
        run_sizes(ints(args.deal_sizes), ints(args.burst_sizes), Path(args.png), cache)
    )
    print("start-up against open deals:")
    for s in report["start_up"]:
        print(
            f"  {s['open_deals']:>8,} deals: {s['seconds_to_first_answer']:6.2f} s to the first"
            f" answer, RSS {s['rss_mb_at_first_answer']} MB (peak {s['peak_rss_mb']} MB),"
            f" store built in {s['store_built_s']} s"
        )
    print("a burst of taps in one group:")
    for b in report["bursts"]:
        print(
            f"  {b['taps']:>8,} taps: {b['taps_per_second']:7.1f} taps/s, p50 {b['p50_s']:.2f} s,"
            f" p99 {b['p99_s']:.2f} s, {b['answered']:,} answered, peak RSS {b['peak_rss_mb']} MB,"
            f" {'correct' if b['correct'] else 'NOT CORRECT'}"
        )
    if "png" in report:
        print(f"curves: {report['png']}")
    if args.json:
        print(json.dumps(report, separators=(",", ":")))
    return 0 if report["correct"] else 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    layout = (
        QUICK
        if args.quick
        else Layout(
            groups=args.groups,
            open_deals=args.deals,
            orders=args.orders,
            storm=args.storm,
            summaries=args.summaries,
        )
    )
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if args.store != "sqlite":
        if not args.store.startswith(("postgresql://", "postgres://")):
            raise BenchError("--store takes sqlite or a postgresql://… URL")
        if args.workers < 2:
            raise BenchError("--workers: at least 2 (one is killed mid-storm)")
        from bench.many_groups_workers import run_pg

        on_pg = await run_pg(args, layout, parts)
        on_pg["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
        on_pg["correct"] = all(c.ok for part in parts for c in on_pg[part]["checks"])
        return on_pg
    report: dict[str, Any] = {"layout": vars(layout) | {"members": layout.members}}
    with tempfile.TemporaryDirectory(prefix="many-groups-") as tmp:
        workdir = Path(tmp)
        pristine = workdir / "pristine.db"
        began = time.monotonic()
        log_line(f"building the store: {layout}")
        await build(pristine, layout, None if args.no_cache or args.quick else CACHE)
        report["store_built_s"] = round(time.monotonic() - began, 1)
        for part in parts:
            db = workdir / f"{part}.db"
            db.write_bytes(pristine.read_bytes())
            log_line(f"part: {part}")
            if part == "start":
                report["start"] = {"figures": await start_up(layout, db, workdir), "checks": []}
            elif part == "storm":
                report["storm"] = await storm(layout, db, workdir, args.lead)
            elif part == "summaries":
                report["summaries"] = await summaries(layout, db, workdir, args.lead)
            else:
                raise BenchError(f"unknown part {part!r}")
    report["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    checks = [c for part in parts for c in report[part]["checks"]]
    report["correct"] = all(c.ok for c in checks)
    return report


def print_report(report: dict[str, Any]) -> None:
    layout = report["layout"]
    if report.get("store") == "postgresql":
        print(f"PostgreSQL, {report['workers']} webhook workers (one killed mid-storm)")
    print(
        f"Many groups: {layout['groups']:,} groups, {layout['open_deals']:,} open deals,"
        f" {layout['orders']:,} orders (store built in {report['store_built_s']} s)"
    )
    for part in ("start", "storm", "summaries"):
        if part not in report:
            continue
        print(f"{part}:")
        for name, value in report[part]["figures"].items():
            print(f"  {name.replace('_', ' '):42} {value}")
        for check in report[part]["checks"]:
            print(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    load = ", ".join(f"{x:.2f}" for x in report["machine"]["load_average"])
    print(f"machine: {report['machine']['cpus']} CPUs, load average {load}")
    print(f"correct: {'yes' if report['correct'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.sizes:
        try:
            return sizes_main(args)
        except (BenchError, TimeoutError) as exc:
            print(f"many_groups: {exc or 'timed out'}", file=sys.stderr)
            return 1
    try:
        report = asyncio.run(run(args))
    except (BenchError, TimeoutError) as exc:
        print(f"many_groups: {exc or 'timed out'}", file=sys.stderr)
        return 1
    print_report(report)
    if args.json:
        for part in ("start", "storm", "summaries"):
            if part in report:
                report[part]["checks"] = {c.name: c.ok for c in report[part]["checks"]}
        print(json.dumps(report, separators=(",", ":")))
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
