"""The flash sale's report: what was sent where and when, every figure as the JSON line
carries it, and the human-readable table."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from bench.flash_harness import (
    GROUP_ID,
    PTB_CONCURRENCY,
    PTB_POOL,
    ROUND_FORMED,
    TARGET_EDIT_INTERVAL,
    TARGET_P99,
    TARGET_RATIO,
    BotRun,
    CeilingRun,
    Options,
)
from tests.fakeapi import EDIT_METHODS, Recorded


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
