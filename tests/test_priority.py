"""Taps first: notifications wait for a lull in the taps, but never long."""

from __future__ import annotations

import asyncio
import time

from bot.priority import TapsFirst


async def test_with_no_tap_in_hand_nothing_waits() -> None:
    taps = TapsFirst(patience=5)
    started = time.monotonic()
    await taps.lull()
    assert time.monotonic() - started < 0.1


async def test_a_notification_goes_when_the_taps_are_answered() -> None:
    taps = TapsFirst(patience=5)
    order: list[str] = []

    async def tap(name: str, seconds: float) -> None:
        with taps.answering():
            await asyncio.sleep(seconds)
            order.append(name)

    async def notify() -> None:
        await taps.lull()
        order.append("notification")

    await asyncio.gather(tap("first tap", 0.05), tap("second tap", 0.1), notify())
    assert order == ["first tap", "second tap", "notification"]


async def test_a_steady_stream_of_taps_holds_a_notification_back_only_so_long() -> None:
    taps = TapsFirst(patience=0.1)
    with taps.answering():
        started = time.monotonic()
        await taps.lull()
        waited = time.monotonic() - started
    assert 0.09 <= waited < 1.0


async def test_a_failing_tap_still_counts_as_answered() -> None:
    taps = TapsFirst(patience=5)
    try:
        with taps.answering():
            raise ValueError("bad tap")
    except ValueError:
        pass
    started = time.monotonic()
    await taps.lull()
    assert time.monotonic() - started < 0.1


async def test_a_rounds_notifications_share_one_deadline() -> None:
    taps = TapsFirst(patience=0.1)
    with taps.answering():
        deadline = taps.deadline()
        started = time.monotonic()
        for _ in range(5):  # five confirmations of one round, taps never pausing
            await taps.lull(deadline)
        waited = time.monotonic() - started
    assert 0.09 <= waited < 0.3, "the round waited once, not five times"
