"""A bar chart as plain geometry: the console draws it as SVG on the server, so the page
needs no chart library (nor any CDN) to show a group's last 30 days."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DayTotals:
    """One local day of a group's business: confirmed orders of the rounds formed that day."""

    day: date
    orders: int = 0
    units: int = 0
    revenue: int = 0


@dataclass(frozen=True)
class Bar:
    """One day's bar, in the chart's own coordinates (y grows downwards, as in SVG)."""

    day: date
    value: int
    x: float
    y: float
    width: float
    height: float


def last_days(today: date, count: int) -> list[date]:
    """The `count` days ending with `today`, oldest first."""
    return [today - timedelta(days=back) for back in range(count - 1, -1, -1)]


def day_totals(
    days: Sequence[date], tz: str, orders: Iterable[tuple[int, int, int]]
) -> list[DayTotals]:
    """Each of `days` (local days in `tz`) with the confirmed orders of the rounds formed
    that day: `orders` as (round closed at, units, amount); others are left out."""
    totals = {day: DayTotals(day) for day in days}
    zone = ZoneInfo(tz)
    for closed_at, units, amount in orders:
        day = datetime.fromtimestamp(closed_at, UTC).astimezone(zone).date()
        if (sums := totals.get(day)) is not None:
            totals[day] = replace(
                sums,
                orders=sums.orders + 1,
                units=sums.units + units,
                revenue=sums.revenue + amount,
            )
    return list(totals.values())


def bars(values: Sequence[tuple[date, int]], width: float, height: float) -> list[Bar]:
    """A bar per day across `width`, the tallest `height` high; a gap of a fifth between
    bars so that thirty of them stay readable on a phone. A day of 0 has no height."""
    if not values:
        return []
    top = max(value for _, value in values) or 1
    step = width / len(values)
    gap = step / 5
    drawn = []
    for n, (day, value) in enumerate(values):
        tall = height * max(value, 0) / top
        drawn.append(Bar(day, value, n * step + gap / 2, height - tall, step - gap, tall))
    return drawn
