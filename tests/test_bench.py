"""Smoke test of the flash-sale benchmark: it runs, prints its figures, and finds it correct.

Timings are never asserted here: they depend on the machine. Correctness is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent


def test_quick_flash_sale_is_correct_and_prints_its_figures() -> None:
    script = str(ROOT / "bench" / "flash_sale.py")
    # --timeout: each burst waits at most this long for its answers.
    result = subprocess.run(
        [sys.executable, script, "--quick", "--json", "--timeout", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,  # a bound for a hung run; a normal quick run takes about 10 s
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    for figure in (
        "taps per second",
        "latency p50",
        "latency p95",
        "latency p99",
        "peak RSS",
        "429s received",
        "editMessageText (card)",
        "ratio (ours / ceiling)",
    ):
        assert figure in result.stdout, f"{figure!r} missing from:\n{result.stdout}"

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["correct"] is True
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert report["groupbuy"]["answered"] == report["groupbuy"]["taps"] == 100
    assert report["ceiling"]["answered"] == 100
    assert report["store"]["confirmed_units"] == 50
    assert report["store"]["rounds_formed"] == 5


def test_quick_many_groups_is_correct_and_prints_its_figures() -> None:
    # 200 groups, a storm of 40 deals, 40 leaders' summaries across a restart.
    script = str(ROOT / "bench" / "many_groups.py")
    result = subprocess.run(
        [sys.executable, script, "--quick", "--lead", "8", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # a bound for a hung run; a normal quick run takes about 40 s
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    for figure in (
        "seconds to first answer",
        "peak rss mb",
        "to last announcement s",
        "to last confirmation s",
        "quiet tap p99 ms",
        "requests 429",
        "leaders before restart",
    ):
        assert figure in result.stdout, f"{figure!r} missing from:\n{result.stdout}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["correct"] is True
    for part in ("start", "storm", "summaries"):
        assert all(report[part]["checks"].values()), report[part]["checks"]
    assert report["storm"]["figures"]["confirmations_expected"] == 400


def test_quick_shared_sale_is_correct_on_the_card_and_two_copies() -> None:
    # 100 members tap Join at once, round-robin over the group card and two copies shared
    # through inline mode into chats the bot is not in; stock 50.
    script = str(ROOT / "bench" / "shared_sale.py")
    result = subprocess.run(
        [sys.executable, script, "--quick", "--copies", "2", "--json", "--timeout", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a bound for a hung run; a normal quick run takes about 10 s
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    for figure in ("taps per second", "latency p50", "latency p99", "peak RSS", "429s received"):
        assert figure in result.stdout, f"{figure!r} missing from:\n{result.stdout}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["correct"] is True
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert report["groupbuy"]["answered"] == report["groupbuy"]["taps"] == 100
    assert report["store"]["taken"] == report["store"]["confirmed_units"] == 50
    cards = {card["card"]: card for card in report["cards"]}
    assert list(cards) == ["group card", "copy 1", "copy 2"]
    assert [card["taps"] for card in cards.values()] == [34, 33, 33]
    assert sum(card["told_in"] for card in cards.values()) == 50
    for card in cards.values():
        assert card["edits"] >= 1 and card["final_after"] is not None, card


def test_a_summary_sent_again_counts_only_if_it_was_not_in_flight_at_the_kill() -> None:
    """A kill can fall between Telegram's accept and the bot's note: that one message may
    go again; any other message sent twice fails the check."""
    from bench.many_groups_run import Summaries

    def sent(chat: int, text: str, at: float) -> SimpleNamespace:
        params = {"chat_id": chat, "text": text}
        return SimpleNamespace(method="sendMessage", ok=True, params=params, at=at)

    api = SimpleNamespace(
        requests=[sent(1, "report", 9.8), sent(2, "report", 5.0), sent(1, "report", 20.0)]
    )
    summaries = Summaries(api, {1, 2}, due=0.0)  # type: ignore[arg-type]
    figures, checks = summaries.figures(killed_at=10.0)
    assert figures["sent_again_in_flight_at_kill"] == 1
    assert all(check.ok for check in checks), checks

    api.requests.append(sent(2, "report", 21.0))  # accepted 5 s before the kill: noted
    figures, checks = summaries.figures(killed_at=10.0)
    twice = next(check for check in checks if check.name == "no summary twice")
    assert not twice.ok and "1 leaders got one twice" in twice.detail
