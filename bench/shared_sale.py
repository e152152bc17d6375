"""Shared-card flash sale: a burst of Join taps split between a deal's group card and N
copies of that card shared into other chats through inline mode.

The real bot (`python -m bot`, on SQLite) runs as a separate process against the tests'
fake Bot API on 127.0.0.1, as in bench/flash_sale.py, whose helpers this reuses. A leader
posts one deal (stock 500, min 10, limit 1, rounds mode). N members (`--copies`, default 2)
each tap the card's 📤 Share: Telegram types its signed payload after `@bot`, the bot
answers that inline query with the deal, and the member picks it in a chat the bot is not
in (feedback on, so the bot hears of the copy at once). Then M members (default 1,000) tap
Join at once, round-robin between the group card (a callback query with its message) and
the copies (a callback query with the copy's inline_message_id, carrying the Join data of
that copy's own buttons). `--copies 0` is the same burst on the group card alone.

Printed: taps per second until the last answer, p50/p95/p99 tap-to-answer latency, peak
RSS, the editMessageText/editMessageCaption calls of the group card and of each copy, how
long after the first tap each showed its final state, and the checks (the store holds
exactly the stock; every tap answered once, none with an error; as many told "you're in"
as units; the card and every copy end with the same text, sold out, no Join button; no
429). The exit code is 1 if a check fails or the benchmark could not run.

    .venv/bin/python bench/shared_sale.py               # 1,000 members, stock 500, 2 copies
    .venv/bin/python bench/shared_sale.py --copies 0    # the baseline: the group card alone
    .venv/bin/python bench/shared_sale.py --quick --json  # 100 members, stock 50 (smoke test)
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/shared_sale.py` puts bench/ first on the path; the fake API lives in tests/.
    sys.path.insert(0, str(ROOT))

from bench import flash_sale  # noqa: E402
from bench.flash_harness import (  # noqa: E402
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
    Check,
    Options,
    base_env,
    cpu_seconds,
    log_line,
    peak_rss_kb,
    spawn,
    stop_process,
    wait_until,
)
from bench.flash_report import last_private_after, mb, seconds, sends_since  # noqa: E402
from bot.core.sharing import LIVE_COPIES  # noqa: E402
from bot.texts import Texts  # noqa: E402
from tests.fakeapi import Recorded  # noqa: E402

# The chats the copies are shared into, none of which the bot is in: -1008880000001, ….
FIRST_OTHER_CHAT = -1008880000001
# The edits that redraw a card (a photo deal's card is a caption).
REDRAWS = frozenset({"editMessageText", "editMessageCaption"})


@dataclass(frozen=True)
class SharedOptions:
    """What to run: the flash sale's options, and how many copies share its burst."""

    sale: Options
    copies: int


@dataclass
class Card:
    """Where taps go: the group card, or a copy shared into another chat (its inline id)."""

    name: str
    join: str  # its Join button's callback data
    where: tuple[int, int]  # (chat id, message id), as the fake keeps it
    inline_id: str | None = None
    queries: list[str] = field(default_factory=list)  # the burst's taps on it

    def text(self, api: BenchAPI) -> str:
        """What the card shows now (its text or caption)."""
        message = api.message(*self.where)
        return str(message.get("text") or message.get("caption") or "")

    def tap(self, api: BenchAPI, user_id: int) -> str:
        """A member taps Join on this card; the callback query's id."""
        if self.inline_id is not None:
            return api.tap_inline(user_id, self.inline_id, self.join)
        chat_id, message_id = self.where
        return api.tap(chat_id, user_id, message_id, self.join)

    def redraws(self, requests: list[Recorded]) -> list[Recorded]:
        """Every editMessageText/editMessageCaption the bot made of this card."""
        if self.inline_id is not None:
            key: dict[str, Any] = {"inline_message_id": self.inline_id}
        else:
            key = {"chat_id": self.where[0], "message_id": self.where[1]}
        return [
            r
            for r in requests
            if r.method in REDRAWS and all(r.params.get(k) == v for k, v in key.items())
        ]


@dataclass
class SharedRun:
    """What the run measured: the flash sale's figures, and each card's."""

    run: BotRun
    cards: list[Card]
    texts: dict[str, str]  # each card's final text, by name
    buttons: dict[str, list[str]]  # each card's final button labels, by name
    final_after: dict[str, float | None]  # first tap to each card's final state
    copies_known: int  # copies the store keeps current, read after the bot stopped
    copies_retired: int
    checks: list[Check] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)


# --------------------------------------------------------------------------------------------
# The story


def join_of(buttons: list[tuple[str, str | None]], label: str) -> str | None:
    """The callback data of the Join button among these, if there is one."""
    for text, data in buttons:
        if data is not None and (text == label or label.lower() in text.lower()):
            return str(data)
    return None


def count_copies(db: Path) -> tuple[int, int]:
    """Copies the store knows of, and how many of them it retired (0, 0 if unreadable)."""
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT COUNT(*), COUNT(retired_at) FROM shared_cards").fetchone()
        return int(row[0]), int(row[1])
    return 0, 0


async def post_deal(
    api: BenchAPI, opts: SharedOptions, process: asyncio.subprocess.Process, log: Path
) -> Card:
    """The leader posts the deal; the group card, once the bot is idle again."""
    api.send_text(GROUP_ID, LEADER_ID, flash_sale.deal_form(opts.sale))
    posted = lambda: bool(api.calls("sendMessage", chat_id=GROUP_ID))  # noqa: E731
    await wait_until(posted, STEP_TIMEOUT, "the deal card", process, log)
    card = api.calls("sendMessage", chat_id=GROUP_ID)[0]  # the bot's first message there
    if not card.ok or "reply_markup" not in card.params or not card.result:
        raise BenchError(f"the bot did not post a card: {card.params.get('text')!r}")
    card_id = int(card.result["message_id"])
    join = flash_sale.find_button(api, card_id, Texts().label("join", "en"))
    await wait_until(lambda: api.idle_since(card.at), STEP_TIMEOUT, "an idle poll", process, log)
    return Card("group card", join, (GROUP_ID, card_id))


async def share(
    api: BenchAPI,
    payload: str,
    sharer: int,
    chat_id: int,
    number: int,
    db: Path,
    process: asyncio.subprocess.Process,
    log: Path,
) -> Card:
    """A member sends the deal into a chat the bot is not in: the copy, once the bot keeps it."""
    api.chat_without_bot(chat_id, f"Friends {number}")
    query = api.inline_query(sharer, payload)
    what = f"the answer to copy {number}'s inline query"
    await wait_until(lambda: bool(api.inline_answers[query]), STEP_TIMEOUT, what, process, log)
    results = api.inline_answers[query][0]["results"]
    if len(results) != 1:
        raise BenchError(f"the Share payload listed {len(results)} results, not the deal")
    _, inline_id = api.choose_inline_result(sharer, query, str(results[0]["id"]), chat_id)
    if inline_id is None:
        raise BenchError("the shared card has no buttons, so no inline_message_id")
    known = f"the bot to keep copy {number}"
    await wait_until(lambda: count_copies(db)[0] >= number, STEP_TIMEOUT, known, process, log)
    join = join_of(api.inline_buttons(inline_id), Texts().label("join", "en"))
    if join is None:
        raise BenchError(f"no Join button on copy {number}: {api.inline_buttons(inline_id)}")
    return Card(f"copy {number}", join, api.inline_messages[inline_id], inline_id)


async def tap_burst(
    api: BenchAPI,
    pid: int,
    members: list[int],
    cards: list[Card],
    timeout: float,  # noqa: ASYNC109 - one deadline for the whole burst
) -> Burst:
    """Every member taps Join at once, round-robin over the cards; wait (bounded) for the
    answers. As bench/flash_sale.py's burst, on several cards."""
    pushed: dict[str, float] = {}
    bot_cpu, fake_cpu = cpu_seconds(pid), time.process_time()
    # No await in this loop: every tap is queued before the bot's poll can return.
    for n, uid in enumerate(members):
        card = cards[n % len(cards)]
        at = time.monotonic()
        query = card.tap(api, uid)
        card.queries.append(query)
        pushed[query] = at
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


def settled(api: BenchAPI, opts: Options, cards: list[Card]) -> bool:
    """Every card shows the group card's text, without a Join button (if the deal sells out)."""
    label = Texts().label("join", "en")
    first = cards[0].text(api)
    return all(
        card.text(api) == first
        and (not opts.sells_out or join_of(api.buttons(*card.where), label) is None)
        for card in cards
    )


async def drain(api: BenchAPI, opts: Options, cards: list[Card], burst: Burst) -> bool:
    """Wait (at most opts.drain s) for the rounds' messages and every card's final state;
    whether the cards reached it."""
    deadline = time.monotonic() + opts.drain
    while time.monotonic() < deadline:
        rounds, private = sends_since(api.requests, burst.start)
        if rounds >= opts.rounds and private >= opts.confirmed // opts.limit:
            if settled(api, opts, cards):
                break
        await asyncio.sleep(0.05)
    return settled(api, opts, cards)


def final_after(requests: list[Recorded], card: Card, start: float) -> float | None:
    """First tap to the card's last successful redraw (the one that drew its final state)."""
    redraws = [r.at for r in card.redraws(requests) if r.ok and r.at >= start]
    return max(redraws) - start if redraws else None


async def run_shared(opts: SharedOptions, workdir: Path) -> SharedRun:
    """Post the deal, share it, burst, drain, stop; then read the store and check."""
    sale, db, log = opts.sale, workdir / "bot.db", workdir / "bot.log"
    async with BenchAPI() as api:
        if sale.flood:
            api.limit_per_group_per_minute = 20  # Telegram's 20 messages a minute in a group
        members = flash_sale.populate(api, sale.members)
        env = base_env() | {
            "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
            "GROUPBUY_TELEGRAM__BASE_URL": api.base_url,
            "GROUPBUY_TELEGRAM__POLL_TIMEOUT": f"{sale.poll_timeout:g}",
            "GROUPBUY_TELEGRAM__CARD_EDIT_INTERVAL": f"{sale.card_edit_interval:g}",
            "GROUPBUY_TELEGRAM__FLOOD_CONTROL": "true" if sale.flood_control else "false",
            "GROUPBUY_STORAGE__PATH": str(db),
        }
        log_line("starting groupbuy-bot (python -m bot)")
        process = await spawn([sys.executable, "-m", "bot"], env, workdir, log)
        try:
            await wait_until(lambda: api.polling > 0, START_TIMEOUT, "polling", process, log)
            group = await post_deal(api, opts, process, log)
            snapshot = flash_sale.public_copy(api.message(GROUP_ID, group.where[1]))
            cards = [group]
            if opts.copies:
                payload = flash_sale.find_button(api, group.where[1], Texts().label("share"))
                for n in range(1, opts.copies + 1):
                    sharer, chat_id = members[n - 1], FIRST_OTHER_CHAT - (n - 1)
                    cards.append(await share(api, payload, sharer, chat_id, n, db, process, log))
                shared = time.monotonic()
                what = "an idle poll after sharing"
                await wait_until(lambda: api.idle_since(shared), STEP_TIMEOUT, what, process, log)
                log_line(f"{opts.copies} copies shared into chats without the bot")

            log_line(f"burst: {sale.members} members tap Join on {len(cards)} card(s)")
            burst = await tap_burst(api, process.pid, members, cards, sale.timeout)
            log_line(
                f"burst done: {len(burst.answered)}/{len(burst.pushed)} answered "
                f"in {burst.seconds:.2f} s; draining up to {sale.drain:g} s"
            )
            final = await drain(api, sale, cards, burst)
            drained_at = time.monotonic()
            texts = {card.name: card.text(api) for card in cards}
            buttons = {
                card.name: [label for label, _ in api.buttons(*card.where)] for card in cards
            }
            peak = peak_rss_kb(process.pid)
        finally:
            stop = await stop_process(process)
        requests = list(api.requests)
    # A card not in its final state when the drain ended has no time to show.
    finals = {c.name: final_after(requests, c, burst.start) if final else None for c in cards}
    run = BotRun(
        burst=burst,
        requests=requests,
        card_id=group.where[1],
        card_snapshot=snapshot,
        join_data=group.join,
        peak_rss_kb=peak,
        stop=stop,
        card_final_after=finals[group.name],
        drained_at=drained_at,
        store=flash_sale.read_store(db),
    )
    known, retired = count_copies(db)
    shared_run = SharedRun(run, cards, texts, buttons, finals, known - retired, retired)
    run.checks = flash_sale.check(sale, run)
    shared_run.checks = run.checks + check_cards(opts, shared_run)
    return shared_run


def check_cards(opts: SharedOptions, shared: SharedRun) -> list[Check]:
    """The cards: every copy kept, all ending alike, sold out and without Join; no 429."""
    sale, group = opts.sale, shared.texts["group card"]
    join = Texts().label("join", "en")
    differ = [name for name, text in shared.texts.items() if text != group]
    with_join = [
        name
        for name, labels in shared.buttons.items()
        if any(label == join or "join" in label.lower() for label in labels)
    ]
    status_429 = sum(1 for r in shared.run.requests if r.status == 429)
    checks = [
        Check(
            "copies kept current",
            shared.copies_known == opts.copies and shared.copies_retired == 0,
            f"{shared.copies_known} (expected {opts.copies}), {shared.copies_retired} retired",
        ),
        Check(
            "every card ends the same",
            not differ,
            f"{len(shared.texts)} alike" if not differ else "differ: " + ", ".join(differ),
        ),
    ]
    if sale.sells_out:
        sold = f"Sold out — {sale.stock} of {sale.stock}"
        not_sold = [name for name, text in shared.texts.items() if sold not in text]
        checks += [
            Check(
                "every card sold out",
                not not_sold,
                f"{sold!r} on {len(shared.texts) - len(not_sold)}/{len(shared.texts)}",
            ),
            Check(
                "no Join button left",
                not with_join,
                "none" if not with_join else "on " + ", ".join(with_join),
            ),
        ]
    checks.append(Check("no 429 from the fake", status_429 == 0, f"{status_429} received"))
    return checks


# --------------------------------------------------------------------------------------------
# The report


def build_report(opts: SharedOptions, shared: SharedRun) -> dict[str, Any]:
    """Every figure, as the JSON line carries them."""
    sale, run = opts.sale, shared.run
    refusals = {
        Texts().render(name, "en", limit=sale.limit)
        for name in ("tap_sold_out", "tap_closed", "tap_limit", "tap_error")
    }
    cards = []
    for card in shared.cards:
        redraws = [r for r in card.redraws(run.requests) if r.at >= run.burst.start]
        told_in = sum(
            1
            for q in card.queries
            if run.burst.answers.get(q)
            and (run.burst.answers[q][0].get("text") or "") not in refusals
        )
        final = shared.final_after[card.name]
        own = Burst(
            {q: run.burst.pushed[q] for q in card.queries},
            {q: run.burst.answered[q] for q in card.queries if q in run.burst.answered},
            {},
            True,
            None,
            0.0,
        )
        cards.append(
            {
                "card": card.name,
                "inline_message_id": card.inline_id,
                "taps": len(card.queries),
                "told_in": told_in,
                "p50": round(own.percentile(50), 4),
                "p99": round(own.percentile(99), 4),
                "edits": len(redraws),
                "edits_failed": sum(1 for r in redraws if not r.ok),
                "edits_during_burst": sum(1 for r in redraws if r.at <= run.burst.end),
                "final_after": None if final is None else round(final, 2),
            }
        )
    errors: dict[str, int] = {}
    for r in run.requests:
        if not r.ok and r.method != "getUpdates" and r.at >= run.burst.start:
            errors[f"{r.method} {r.status}"] = errors.get(f"{r.method} {r.status}", 0) + 1
    return {
        "members": sale.members,
        "stock": sale.stock,
        "min": sale.min_members,
        "limit": sale.limit,
        "copies": opts.copies,
        "card_edit_interval": sale.card_edit_interval,
        "flood_control": sale.flood_control,
        "fake_flood_model": sale.flood,
        "drain_seconds": sale.drain,
        "groupbuy": run.burst.figures() | {"peak_rss_mb": mb(run.peak_rss_kb), "stop": run.stop},
        "cards": cards,
        "rounds_announced": sends_since(run.requests, run.burst.start)[0],
        "expected_rounds": sale.rounds,
        "last_private_after": last_private_after(run),
        "errors": dict(sorted(errors.items())),
        "status_429": sum(1 for r in run.requests if r.status == 429),
        "store": run.store | {"copies_kept": shared.copies_known},
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in shared.checks},
        "correct": shared.correct,
    }


def print_report(report: dict[str, Any]) -> None:
    """The human-readable table."""
    bot = report["groupbuy"]
    where = (
        f"split between the group card and {report['copies']} shared copies"
        if report["copies"]
        else "on the group card alone (no copies: the baseline)"
    )
    print(
        f"Shared flash sale: {report['members']} members tap Join at once, {where} "
        f"(stock {report['stock']}, limit {report['limit']}, min {report['min']}, rounds mode)"
    )
    print(
        f"bot: card_edit_interval {report['card_edit_interval']:g} s, flood control "
        f"{'on' if report['flood_control'] else 'off'}; fake API flood model "
        f"{'on (20/min per group)' if report['fake_flood_model'] else 'off'}"
    )
    print()
    rows = [
        ("taps answered", f"{bot['answered']}/{bot['taps']}"),
        ("first tap → last answer", seconds(bot["seconds"])),
        ("taps per second", f"{bot['taps_per_second']:.0f}"),
        *((f"latency {k}", seconds(bot[k])) for k in ("p50", "p95", "p99", "max")),
        ("bot CPU in burst", seconds(bot["bot_cpu_seconds"])),
        ("fake API CPU in burst", seconds(bot["fake_api_cpu_seconds"])),
        ("peak RSS (VmHWM)", f"{bot['peak_rss_mb']} MB"),
        ("stop", bot["stop"]),
    ]
    for name, value in rows:
        print(f"{name:26}{value:>22}")
    print()
    head = ("card", "taps", "told in", "p50", "p99", "edits", "failed", "during", "final")
    print(f"{head[0]:12}" + "".join(f"{h:>9}" for h in head[1:]))
    for card in report["cards"]:
        cells = [card[k] for k in ("taps", "told_in")]
        cells += [seconds(card["p50"]), seconds(card["p99"])]
        cells += [card[k] for k in ("edits", "edits_failed", "edits_during_burst")]
        cells.append(seconds(card["final_after"]))
        print(f"{card['card']:12}" + "".join(f"{cell!s:>9}" for cell in cells))
    print("  (p50, p99: tap to answer; edits: editMessageText/editMessageCaption from the first")
    print("   tap on, failed ones and those during the burst; final: first tap to the last edit)")
    errors = ", ".join(f"{k}: {v}" for k, v in report["errors"].items()) or "none"
    print(f"errors: {errors}; 429s received: {report['status_429']}")
    last = report["last_private_after"]
    print(
        f"rounds announced in the group: {report['rounds_announced']} "
        f"(expected {report['expected_rounds']}); the last private confirmation "
        f"{'after ' + seconds(last) if last is not None else 'never'} "
        f"(drain waited up to {report['drain_seconds']:g} s)"
    )
    store = report["store"]
    print(
        f"store: {store['confirmed_units']} units confirmed by {store['confirmed_members']} "
        f"members in {store['rounds_formed']} rounds, {store['pending_units']} pending, "
        f"{store['taken']} reserved; {store['copies_kept']} copies kept current"
    )
    print()
    print("correctness")
    for name, result in report["checks"].items():
        print(f"  {name:32}{result['detail']:44}{'ok' if result['ok'] else 'WRONG'}")
    print(f"  {'correct':32}{'yes' if report['correct'] else 'NO'}")


# --------------------------------------------------------------------------------------------
# Entry point


def parse_options(argv: list[str] | None) -> SharedOptions:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="shared_sale", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add("--members", type=int, help="members tapping (default 1000)")
    add("--stock", type=int, help="units in stock (default 500)")
    add("--min", type=int, default=10, help="members a round needs (default 10)")
    add("--copies", type=int, default=2, help=f"copies shared, 0 to {LIVE_COPIES} (default 2)")
    add("--quick", action="store_true", help="100 members, stock 50 (smoke test)")
    add("--flood", action="store_true", help="fake API: 429 past 20 messages/min per group")
    add("--card-edit-interval", type=float, default=3.0, help="bot setting (default 3 s)")
    add("--poll-timeout", type=float, default=1.0, help="long-poll seconds (default 1)")
    add(
        "--drain",
        type=float,
        help="seconds to wait after the burst for the confirmations and every card's final "
        "state (default 30; 10 with --quick); ends as soon as all are there",
    )
    add("--timeout", type=float, default=120.0, help="seconds to wait for every answer")
    add("--json", action="store_true", help="also print one JSON line, last")
    args = parser.parse_args(argv)
    members = args.members or (100 if args.quick else 1000)
    stock = args.stock or (50 if args.quick else 500)
    drain = args.drain if args.drain is not None else (10.0 if args.quick else 30.0)
    if members < 1 or stock < 1 or args.min < 1 or stock < args.min:
        parser.error("need members ≥ 1 and stock ≥ min ≥ 1")
    if not 0 <= args.copies <= min(LIVE_COPIES, members):
        parser.error(f"--copies: 0 to {LIVE_COPIES}, and no more than --members")
    sale = Options(
        members=members,
        stock=stock,
        min_members=args.min,
        limit=1,
        flood=args.flood,
        flood_control=True,
        card_edit_interval=args.card_edit_interval,
        poll_timeout=args.poll_timeout,
        drain=max(0.0, drain),
        timeout=args.timeout,
        ceiling=False,
        ceiling_concurrency=None,
        ceiling_pool=None,
        ceiling_transport="httpx",
        json=args.json,
        profile=None,
    )
    return SharedOptions(sale=sale, copies=args.copies)


async def bench(opts: SharedOptions) -> dict[str, Any]:
    """The run, in a temporary directory that goes away afterwards."""
    with tempfile.TemporaryDirectory(prefix="shared-sale-") as tmp:
        return build_report(opts, await run_shared(opts, Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if every check passed, 1 if not or if it could not run."""
    opts = parse_options(argv)
    try:
        report = asyncio.run(asyncio.wait_for(bench(opts), OVERALL_TIMEOUT))
    except (BenchError, TimeoutError) as exc:
        print(f"shared_sale: {exc or 'timed out'}", file=sys.stderr)
        return 1
    print_report(report)
    if opts.sale.json:
        print(json.dumps(report, separators=(",", ":"), ensure_ascii=False))
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
