"""/repost: a past deal's values, with what the leader typed after its number replacing
them, become a DealForm checked as /deal's is, or a FormError naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.forms import DealForm, FormError, Mode, OptionForm
from bot.core.repost import parse_repost

# Friday 2026-11-20, 20:00 in Shanghai (UTC+8), where the group lives.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = timedelta(days=2)  # the past deal ran two days from its posting

PAST = DealForm(
    title="Alphonso mangoes, 5 kg box",
    price=1250,
    min_members=10,
    deadline=datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
    stock=50,
    limit=2,
    mode=Mode.TIPPING,
    note="Pickup Saturday",
    description="Sweet, from Ratnagiri.",
    pickups=("Clubhouse",),
)
WITH_OPTIONS = DealForm(
    title="Mangoes",
    price=1250,
    min_members=2,
    deadline=datetime(2026, 11, 15, 12, 0, tzinfo=UTC),
    options=(OptionForm("5kg", 1250, 30), OptionForm("10kg", 2200, None)),
)


def repost(text: str, base: DealForm = PAST, **options: Any) -> DealForm:
    return parse_repost(text, base, period=PERIOD, now=NOW, tz=SHANGHAI, **options)


def refused(text: str, base: DealForm = PAST, **options: Any) -> tuple[str, str, str | None]:
    with pytest.raises(FormError) as caught:
        repost(text, base, **options)
    context = caught.value.context
    assert caught.value.template == "deal_form_error" and "digits" in context
    return context["field"], context["problem"], context["value"]


def test_without_overrides_the_copy_is_the_past_deal_running_as_long_again() -> None:
    copy = repost("")
    assert copy == DealForm(
        title=PAST.title,
        price=1250,
        min_members=10,
        deadline=NOW + PERIOD,
        stock=50,
        limit=2,
        mode=Mode.TIPPING,
        note="Pickup Saturday",
        description="Sweet, from Ratnagiri.",
        pickups=("Clubhouse",),
    )


@pytest.mark.parametrize(
    ("typed", "deadline", "stock"),
    [
        ("3d", NOW + timedelta(days=3), 50),
        ("3d 40", NOW + timedelta(days=3), 40),
        ("1d 12h 40", NOW + timedelta(days=1, hours=12), 40),
        ("2026-11-25 20:00 40", datetime(2026, 11, 25, 12, 0, tzinfo=UTC), 40),
        ("22:00 40份", datetime(2026, 11, 20, 14, 0, tzinfo=UTC), 40),
        ("2天 ４０", NOW + timedelta(days=2), 40),
    ],
)
def test_a_deadline_and_a_stock_may_follow_the_number(
    typed: str, deadline: datetime, stock: int
) -> None:
    copy = repost(typed)
    assert (copy.deadline, copy.stock) == (deadline, stock)
    assert copy.title == PAST.title and copy.limit == 2


def test_any_field_of_the_form_replaces_the_old_value() -> None:
    copy = repost("2h price=11.50 limit=3 mode=rounds note=North gate")
    assert (copy.price, copy.limit, copy.mode, copy.note) == (1150, 3, Mode.ROUNDS, "North gate")
    assert copy.deadline == NOW + timedelta(hours=2) and copy.stock == 50


def test_overrides_may_come_one_per_line_and_in_chinese() -> None:
    copy = repost("\n价格：11.5\n库存：30\n截止：1天")
    assert (copy.price, copy.stock, copy.deadline) == (1150, 30, NOW + timedelta(days=1))


def test_a_start_opens_the_copy_later_and_its_deadline_counts_from_it() -> None:
    copy = repost("start=21:00")
    assert copy.start == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    assert copy.deadline == copy.start + PERIOD
    copy = repost("2h start=30m")
    assert copy.deadline == NOW + timedelta(minutes=150)


def test_new_options_set_the_price_and_old_ones_are_kept() -> None:
    assert repost("", WITH_OPTIONS).options == WITH_OPTIONS.options
    copy = repost("options=small 8; big 15 x5", WITH_OPTIONS)
    assert copy.price == 800
    assert copy.options == (OptionForm("small", 800, None), OptionForm("big", 1500, 5))


@pytest.mark.parametrize(
    ("typed", "field", "problem", "value"),
    [
        ("soon", "deadline", "bad_deadline", "soon"),
        ("50", "deadline", "bad_deadline", "50"),
        ("2026-11-19 10:00", "deadline", "in_past", "2026-11-19 10:00"),
        ("2h 5", "stock", "below_min", "5"),
        ("min=60", "stock", "below_min", "50"),
        ("2h price=free", "price", "not_money", "free"),
        ("colour=red", "colour", "unknown_field", "red"),
        ("2h deadline=3h", "deadline", "duplicate", "3h"),
        ("2h 40 stock=30", "stock", "duplicate", "30"),
        ("limit=", "limit", "no_value", ""),
        ("2026-11-20 22:00 start=23:00", "start", "after_deadline", "23:00"),
        ("start=89d", "deadline", "too_far", "2d0h0m"),
        ("x" * 5000, "form", "too_long", None),
    ],
)
def test_a_bad_override_names_its_field(
    typed: str, field: str, problem: str, value: str | None
) -> None:
    assert refused(typed) == (field, problem, value)


def test_into_a_group_of_another_currency_the_prices_are_given_again() -> None:
    assert refused("2h", repriced=True) == ("price", "other_currency", None)
    assert refused("2h price=5", WITH_OPTIONS, repriced=True) == (
        "options",
        "other_currency",
        None,
    )
    assert repost("price=1300", money_digits=0, repriced=True).price == 1300
    assert repost("options=a 9; b 10", WITH_OPTIONS, repriced=True).price == 900


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        parse_repost("", PAST, period=PERIOD, now=NOW.replace(tzinfo=None), tz=SHANGHAI)
