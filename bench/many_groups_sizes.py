"""bench/many_groups.py --sizes: how the cost grows.

Start-up (spawn to the first answered tap, and the bot's RSS then) against the number of
open deals (10 pending orders each, 2 deals a group), and a burst of N taps on one deal in
one group (bench/flash_sale.py, stock N/2, no ceiling run): taps per second and p99
tap-to-answer against N. The curves go to a PNG (matplotlib, the `bench` extra: made by
hand, never by the test suite) and the figures to the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.flash_harness import BenchError, log_line
from bench.many_groups_store import Layout, build

ROOT = Path(__file__).resolve().parent.parent
DEALS = (1_000, 10_000, 100_000)
BURSTS = (100, 1_000, 10_000)


def layout_for(deals: int) -> Layout:
    """`deals` open deals in deals/2 groups, 10 pending orders each (one tiny storm and
    one summary group, which the start-up never reaches)."""
    return Layout(
        groups=max(deals // 2, 3), open_deals=deals, orders=10 * deals, storm=1, summaries=1
    )


async def start_ups(deals: list[int], cache: Path | None) -> list[dict[str, Any]]:
    from bench.many_groups import start_up

    out = []
    for n in deals:
        layout = layout_for(n)
        with tempfile.TemporaryDirectory(prefix="many-groups-sizes-") as tmp:
            workdir = Path(tmp)
            db = workdir / "start.db"
            began = time.monotonic()
            log_line(f"sizes: building {n:,} open deals")
            await build(db, layout, cache)
            built = time.monotonic() - began
            log_line(f"sizes: start-up with {n:,} open deals")
            figures = await start_up(layout, db, workdir)
        out.append({"open_deals": n, "store_built_s": round(built, 1)} | figures)
        log_line(f"sizes: {out[-1]}")
    return out


def bursts(sizes: list[int], timeout: float) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        log_line(f"sizes: a burst of {n:,} taps")
        argv = [
            sys.executable,
            str(ROOT / "bench" / "flash_sale.py"),
            "--members",
            str(n),
            "--stock",
            str(n // 2),
            "--no-ceiling",
            "--timeout",
            str(timeout),
            "--json",
        ]
        result = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 600, check=False
        )
        try:
            report = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise BenchError(f"the burst of {n} gave no report:\n{result.stderr[-2000:]}") from None
        ours = report["groupbuy"]
        out.append(
            {
                "taps": n,
                "answered": ours["answered"],
                "taps_per_second": ours["taps_per_second"],
                "p50_s": ours["p50"],
                "p99_s": ours["p99"],
                "peak_rss_mb": ours["peak_rss_mb"],
                "correct": bool(report["correct"]),
            }
        )
        log_line(f"sizes: {out[-1]}")
    return out


def plot(starts: list[dict[str, Any]], taps: list[dict[str, Any]], png: Path) -> None:
    """Four curves on two panels: start-up time and RSS against open deals; taps per
    second and p99 against the burst's size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if starts:
        deals = [s["open_deals"] for s in starts]
        left.plot(deals, [s["seconds_to_first_answer"] for s in starts], "o-", color="C0")
        left.set_xscale("log")
        left.set_xlabel("open deals (10 orders each)")
        left.set_ylabel("spawn to first answered tap (s)", color="C0")
        rss = left.twinx()
        rss.plot(deals, [s["peak_rss_mb"] for s in starts], "s--", color="C1")
        rss.set_ylabel("peak RSS (MB)", color="C1")
        left.set_title("Start-up against open deals")
    if taps:
        sizes = [t["taps"] for t in taps]
        right.plot(sizes, [t["taps_per_second"] for t in taps], "o-", color="C2")
        right.set_xscale("log")
        right.set_xlabel("taps in one burst, one group")
        right.set_ylabel("taps per second", color="C2")
        p99 = right.twinx()
        p99.plot(sizes, [t["p99_s"] for t in taps], "s--", color="C3")
        p99.set_ylabel("p99 tap to answer (s)", color="C3")
        right.set_title("A burst of taps against its size")
    fig.suptitle("bench/many_groups.py --sizes (SQLite, 2 cores)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


async def run_sizes(deals: list[int], taps: list[int], png: Path, cache: Path | None) -> dict:
    starts = await start_ups(deals, cache)
    burst = bursts(taps, timeout=max(120.0, max(taps, default=0) / 50))
    report = {"start_up": starts, "bursts": burst}
    report["correct"] = all(b["correct"] for b in burst)
    if png.suffix == ".png":
        plot(starts, burst, png)
        report["png"] = str(png)
    return report
