"""bench/many_groups.py's parts on PostgreSQL with N webhook workers (`--store
postgresql://… --workers N`): start-up, the storm with one worker killed (SIGKILL, not
started again) once a quarter of the groups are announced, and the summaries with one
worker killed once half the leaders have theirs. The storm's checks are the SQLite run's
(every announcement and confirmation exactly once, none missing), 429s aside: each
worker paces itself at 30/N a second, and the two together may meet the fake API's
overall bucket now and then (counted and printed; the bot retries them)."""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import many_groups_pg as pg
from bench.flash_harness import log_line, peak_rss_kb
from bench.many_groups import _storm_done, _storm_figures, _storm_messages, rss_kb
from bench.many_groups_run import QUIET_USERS, ManyAPI, Phase, Summaries, Taps
from bench.many_groups_store import BASE, STORM_AT, SUMMARY_AT, Layout


async def pg_start(layout: Layout, url: str, schema: str, workdir: Path, n: int) -> dict[str, Any]:
    """Spawn of the workers to the first answered tap, nothing due."""
    async with ManyAPI() as api:
        world = await pg.world(api, layout, url, schema)
        workers = pg.Workers(api, url, schema, workdir / "start", n, clock_at=BASE)
        taps = pg.WebhookTaps(api, world, next_user=QUIET_USERS, workers=workers)
        async with workers.running():
            first = await taps.first_answer(workers, timeout=180)
            rss = [rss_kb(p.pid) or 0 for p in workers.processes]
            await asyncio.sleep(2)
            peak = [peak_rss_kb(p.pid) or 0 for p in workers.processes]
        await taps.settle()
    return {
        "workers": n,
        "seconds_to_first_answer": round(first, 2),
        "rss_mb_at_first_answer": [round(r / 1024, 1) for r in rss],
        "peak_rss_mb": [round(r / 1024, 1) for r in peak],
        "requests_429": api.floods,
    }


async def pg_storm(
    layout: Layout, url: str, schema: str, workdir: Path, n: int, lead: float
) -> dict[str, Any]:
    """The storm over n workers; worker 1 killed once a quarter of the groups are announced."""
    first_user = QUIET_USERS + 1_000_000
    before = await pg.read_store(url, schema, first_user)
    expected = before["storm_orders"]
    async with ManyAPI() as api:
        world = await pg.world(api, layout, url, schema)
        workers = pg.Workers(api, url, schema, workdir / "storm", n, clock_at=STORM_AT - lead)
        taps = pg.WebhookTaps(api, world, next_user=first_user, workers=workers)
        async with workers.running():
            deadline_real = workers.real_time(STORM_AT)
            await taps.first_answer(workers, timeout=180)
            phase = Phase(api)
            tapping = asyncio.create_task(taps.steadily(rate=2.0))
            timeout = max(120.0, 0.1 * len(expected) + 2 * layout.storm) + lead
            try:
                await phase.wait(
                    lambda: len(_storm_messages(api, layout)[0]) >= max(1, layout.storm // 4),
                    timeout,
                    "a quarter of the announcements",
                    workers,
                )
                announced, confirmed = _storm_messages(api, layout)
                killed_at = time.monotonic()
                await workers.kill(n - 1)
                log_line(
                    f"storm: worker {n - 1} killed after {len(announced)} announcements,"
                    f" {len(confirmed)} confirmations"
                )
                done = await phase.wait(
                    lambda: _storm_done(api, layout, expected),
                    timeout,
                    "the storm's messages",
                    workers,
                )
            finally:
                tapping.cancel()
            await asyncio.sleep(5)  # a message sent twice shows up now
            peak = [peak_rss_kb(p.pid) or 0 for p in workers.processes if p.returncode is None]
        await taps.settle()
    store = await pg.read_store(url, schema, first_user)
    figures, checks = _storm_figures(api, layout, expected, deadline_real, taps, store)
    # Each worker paces itself at 30/N a second; bursts of the two together may meet the
    # fake API's overall bucket: counted, retried by the bot, not a failure here.
    # The rounds the killed worker closed are announced only when their lease runs out
    # (storage/repos/notices.py, NOTICE_LEASE) and the other worker takes them over, by
    # when its own confirmations have gone: counted (confirmations before the last
    # announcement), not a failure here. Each group's announcement before its own
    # confirmations is still checked.
    dropped = ("no 429", "announcements not kept behind private messages")
    checks = [c for c in checks if c.name not in dropped]
    figures = {"workers": n} | figures
    figures["killed_after_s"] = round(killed_at - deadline_real, 1)
    figures["killed_after_announcements"] = len(announced)
    figures["killed_after_confirmations"] = len(confirmed)
    figures["complete"] = done
    figures["peak_rss_mb"] = [round(r / 1024, 1) for r in peak]
    figures["quiet_answers"] = _answer_texts(api, taps)
    return {"figures": figures, "checks": checks}


def _answer_texts(api: ManyAPI, taps: Taps) -> dict[str, int]:
    """How the quiet taps were answered: each answer's text, counted."""
    texts: dict[str, int] = {}
    for record in api.requests:
        if record.method == "answerCallbackQuery" and record.ok:
            if str(record.params.get("callback_query_id")) in taps.pushed:
                text = re.sub(r"\d+", "#", str(record.params.get("text", "")))[:60]
                texts[text] = texts.get(text, 0) + 1
    return texts


async def pg_summaries(
    layout: Layout, url: str, schema: str, workdir: Path, n: int, lead: float
) -> dict[str, Any]:
    """The summaries over n workers; worker 1 killed (not restarted) once half are out:
    the other worker takes its claim over when the lease lapses."""
    leaders = {layout.leader(k) for k in layout.summary_groups()}
    await pg.execute(
        url,
        schema,
        "UPDATE deals SET deadline = deadline + 86400 WHERE title LIKE 'Storm %'"
        " AND status = 'open'",
    )
    async with ManyAPI() as api:
        world = await pg.world(api, layout, url, schema)
        workers = pg.Workers(api, url, schema, workdir / "summaries", n, clock_at=SUMMARY_AT - lead)
        due = workers.real_time(SUMMARY_AT)
        taps = pg.WebhookTaps(api, world, next_user=QUIET_USERS + 2_000_000, workers=workers)
        phase = Phase(api)
        got = Summaries(api, leaders, due)
        timeout = lead + 120 + 4 * len(leaders) / 30
        async with workers.running():
            await taps.first_answer(workers, timeout=180)
            await phase.wait(lambda: len(got.told()) >= len(leaders) // 2, timeout, "half", workers)
            killed_after = len(got.told())
            killed = time.monotonic()
            await workers.kill(n - 1)
            dead_at = time.monotonic()
            log_line(f"summaries: worker {n - 1} killed after {killed_after} leaders")
            complete = await phase.wait(lambda: got.told() >= leaders, timeout, "the rest", workers)
            await asyncio.sleep(5)
        await taps.settle()
        figures, checks = got.figures(dead_at)
    last = figures.pop("last")
    return {
        "figures": {"workers": n}
        | figures
        | {
            "leaders_before_kill": killed_after,
            "kill_to_last_s": round(last - killed, 1),
            "complete": complete,
            "requests_429": api.floods,
        },
        "checks": checks,
    }


async def run_pg(args: argparse.Namespace, layout: Layout, parts: list[str]) -> dict[str, Any]:
    """The parts on PostgreSQL, one schema of their own (built once, dropped after), in the
    order start, storm, summaries: each part's clock starts later than the last one's."""
    schema = pg.new_schema()
    report: dict[str, Any] = {
        "layout": vars(layout) | {"members": layout.members},
        "store": "postgresql",
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory(prefix="many-groups-pg-") as tmp:
        workdir = Path(tmp)
        try:
            began = time.monotonic()
            log_line(f"building the store in schema {schema}: {layout}")
            await pg.build(args.store, schema, layout)
            report["store_built_s"] = round(time.monotonic() - began, 1)
            for part in ("start", "storm", "summaries"):
                if part not in parts:
                    continue
                (workdir / part).mkdir()
                log_line(f"part: {part}")
                if part == "start":
                    figures = await pg_start(layout, args.store, schema, workdir, args.workers)
                    report["start"] = {"figures": figures, "checks": []}
                elif part == "storm":
                    report["storm"] = await pg_storm(
                        layout, args.store, schema, workdir, args.workers, args.lead
                    )
                else:
                    report["summaries"] = await pg_summaries(
                        layout, args.store, schema, workdir, args.workers, args.lead
                    )
            if args.keep_logs:
                import shutil

                shutil.copytree(workdir, args.keep_logs, dirs_exist_ok=True)
        finally:
            await pg.drop(args.store, schema)
    return report
