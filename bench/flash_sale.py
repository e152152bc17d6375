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
change it. The story and the command line are here; the instrumented fake API, the
processes and what a run measures are in bench/flash_harness.py, the report in
bench/flash_report.py.

    .venv/bin/python bench/flash_sale.py               # 1,000 members, production settings
    .venv/bin/python bench/flash_sale.py --quick       # 100 members, stock 50 (smoke test)
    .venv/bin/python bench/flash_sale.py --flood --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/flash_sale.py` puts bench/ first on the path; the fake API lives in tests/.
    sys.path.insert(0, str(ROOT))

from bench.flash_harness import (  # noqa: E402
    FIRST_MEMBER_ID,
    GRACE,
    GROUP_ID,
    LEADER_ID,
    OVERALL_TIMEOUT,
    START_TIMEOUT,
    STEP_TIMEOUT,
    TOKEN,
    BenchAPI,
    BenchError,
    BotRun,
    Burst,
    CeilingRun,
    Check,
    Options,
    base_env,
    cpu_seconds,
    log_line,
    peak_rss_kb,
    profiled,
    spawn,
    stop_process,
    wait_until,
)
from bench.flash_report import build_report, print_report, sends_since  # noqa: E402
from bot.texts import Texts  # noqa: E402
from tests.fakeapi import EDIT_METHODS, JSON  # noqa: E402

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
