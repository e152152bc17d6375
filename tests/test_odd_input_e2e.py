"""Odd arguments (superscript digits, dates at the calendar's ends, huge numbers) get a
clear answer: never the apology, never an error in the log, never a changed store."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import World

ODD_COMMANDS = [
    ("/invite ²", "/invite 12"),
    ("/invite #³", "/invite 12"),
    ("/paid 1 ³", "/paid 12 @username"),
    ("/paid ²", "/paid 12 @username"),
    ("/collected 1 ²²", "/collected 12 @username"),
    ("/paid 1 99999999999999999999999", "/paid 12 @username"),
    ("/summary 9999-12-31", "out of range"),
    ("/summary 0001-01-01", "out of range"),
    ("/summary ٢٠٢٦-١١-٢٥", "is not a day I know"),
    ("/export 0001-01-01", "out of range"),
    ("/export 9999-12-31", "out of range"),
    ("/export ²", "is not a day I know"),
    ("/restock ² ²", "/restock"),
    ("/close ²", "/close"),
    ("/cancel ³", "/cancel"),
    ("/options ² 5kg 1.00", "/options"),
    ("/payout ² 1", "I don't know"),
    ("/payout 99999999999999999999999 1", "I don't know"),
    ("/payout @ann 99999999999999999999999", "balance of"),
    ("/settings leaders add ²", "I don't know"),
    ("/settings leaders add 99999999999999999999999", "I don't know"),
    ("/settings reward 99999999999999999999999", "reward"),
    ("/settings summary ٢١:٠٠", "not a valid summary"),
    ("/settings levels ²", "not a valid levels"),
]


async def test_odd_arguments_get_a_clear_answer_and_change_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    card = await world.leader.posts("Mangoes\nprice: 12.50\nmin: 2\ndeadline: 1d")
    ann = world.member("Ann")
    await ann.taps("Join", card)
    await world.settle()
    before = await world.rows("SELECT id, status FROM orders")
    caplog.set_level(logging.ERROR)

    wrong = []
    for command, expected in ODD_COMMANDS:
        answer = await world.leader.says_and_hears(command)
        if "went wrong" in answer or expected not in answer:
            wrong.append((command, answer))
    await world.settle()

    assert wrong == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await world.rows("SELECT id, status FROM orders") == before
    assert await world.rows("SELECT count(*) FROM ledger") == [(0,)]
    assert await world.rows("SELECT count(*) FROM order_marks") == [(0,)]
    assert await world.rows("SELECT count(*) FROM group_leaders") == [(0,)]
    assert await world.rows("SELECT reward_value, summary_time, levels FROM groups") == [
        (0, "21:00", 1)
    ]
