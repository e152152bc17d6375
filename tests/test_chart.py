"""The console's chart: a group's days of business, bucketed by local day, as bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.core.chart import DayTotals, bars, day_totals, last_days


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_orders_count_on_the_local_day_their_round_formed() -> None:
    days = last_days(date(2026, 11, 25), 3)
    assert days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    orders = [
        (at("2026-11-24T15:30:00"), 2, 2500),  # 23:30 in Shanghai: the 24th
        (at("2026-11-24T16:30:00"), 1, 1250),  # 00:30 in Shanghai: the 25th
        (at("2026-11-25T01:00:00"), 3, 3000),
        (at("2026-11-20T01:00:00"), 9, 9000),  # before the days shown: left out
    ]
    assert day_totals(days, "Asia/Shanghai", orders) == [
        DayTotals(date(2026, 11, 23)),
        DayTotals(date(2026, 11, 24), orders=1, units=2, revenue=2500),
        DayTotals(date(2026, 11, 25), orders=2, units=4, revenue=4250),
    ]


def test_the_tallest_day_fills_the_height_and_an_empty_day_has_none() -> None:
    drawn = bars([(date(2026, 11, 24), 0), (date(2026, 11, 25), 4)], width=100, height=50)
    assert [bar.height for bar in drawn] == [0, 50]
