"""The deal form: what a leader types after /deal becomes a DealForm, or a clear FormError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import forms
from bot.core.forms import (
    FORM_LIMITS,
    KEY_PROBLEMS,
    PROBLEMS,
    DealForm,
    FormError,
    Mode,
    parse_deal_form,
)
from bot.core.money import format_money
from bot.texts import Texts

# Friday 2026-11-20, 20:00 in Shanghai (UTC+8), where the group lives.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def leader_posts(body: str, *, now: datetime = NOW, tz: ZoneInfo = SHANGHAI) -> DealForm:
    return parse_deal_form(body, now=now, tz=tz)


def reply_to(body: str, **options: Any) -> dict[str, Any]:
    """The FormError context the leader's /deal earns."""
    with pytest.raises(FormError) as caught:
        parse_deal_form(body, now=NOW, tz=SHANGHAI, **options)
    assert caught.value.template == "deal_form_error"
    return caught.value.context


def form(*lines: str, title: str = "Mangoes") -> str:
    """A valid form with `lines` added after the required fields."""
    return "\n".join([title, "price: 12.50", "min: 10", "deadline: 2h", *lines])


def form_without(key: str, *lines: str) -> str:
    required = {"price": "price: 12.50", "min": "min: 10", "deadline": "deadline: 2h"}
    return "\n".join(["Mangoes", *(v for k, v in required.items() if k != key), *lines])


# The story behind every problem code, and the reply it gets.
PROBLEM_STORIES: list[tuple[str, str, str]] = [
    ("", "form", "empty"),
    ("x" * 5000, "form", "too_long"),
    ("price: 1\nmin: 2\ndeadline: 2h", "title", "missing"),
    (form(title="M" * 121), "title", "too_long"),
    (form_without("price"), "price", "missing"),
    (form_without("price", "price: twelve"), "price", "not_money"),
    (form_without("price", "price: 0"), "price", "not_positive"),
    (form_without("price", "price: 1000000.01"), "price", "too_large"),
    (form_without("min"), "min", "missing"),
    (form_without("min", "min: 2.5"), "min", "not_integer"),
    (form_without("min", "min: 0"), "min", "out_of_range"),
    (form_without("deadline"), "deadline", "missing"),
    (form_without("deadline", "deadline: soon"), "deadline", "bad_deadline"),
    (form_without("deadline", "deadline: 2026-11-20 19:00"), "deadline", "in_past"),
    (form_without("deadline", "deadline: 91d"), "deadline", "too_far"),
    (form("stock: lots"), "stock", "not_integer"),
    (form("stock: 1000001"), "stock", "out_of_range"),
    (form("stock: 5"), "stock", "below_min"),
    (form("limit: one"), "limit", "not_integer"),
    (form("limit: 1001"), "limit", "out_of_range"),
    (form("mode: fast"), "mode", "bad_mode"),
    (form("note: " + "n" * 501), "note", "too_long"),
    (form("d" * 1001), "description", "too_long"),
    (form("Weight: 5kg"), "Weight", "unknown_field"),
    (form("price: 13"), "price", "duplicate"),
    (form("limit:"), "limit", "no_value"),
    (form("options: big box"), "options", "bad_option"),
    (form("options: " + "; ".join(f"o{n} 1" for n in range(9))), "options", "too_many"),
    (form("options: box 1; Box 2"), "options", "duplicate_option"),
    (form("pickup: " + "; ".join(f"p{n}" for n in range(9))), "pickup", "too_many"),
    (form("start: soon"), "start", "bad_start"),
    (form("start: 2026-11-20 19:00"), "start", "in_past"),
    (form("start: 91d"), "start", "too_far"),
    (
        form_without("deadline", "deadline: 2026-11-20 21:00", "start: 2h"),
        "start",
        "after_deadline",
    ),
]
# Problems only /repost can have (tests/test_repost_form.py tells their stories).
REPOST_ONLY = {("price", "other_currency"), ("options", "other_currency")}


def test_options_carry_their_own_price_and_stock_and_price_may_be_left_out() -> None:
    deal = leader_posts(
        "Mangoes\noptions: 5kg box 12.50 x30; 10kg box ¥22 x10; 规格三 8元\nmin: 2\ndeadline: 2h"
    )
    assert [(o.name, o.price, o.stock) for o in deal.options] == [
        ("5kg box", 1250, 30),
        ("10kg box", 2200, 10),
        ("规格三", 800, None),
    ]
    assert deal.price == 800


def test_chinese_option_and_pickup_keys() -> None:
    deal = leader_posts("芒果\n规格：小箱 10 x5；大箱 18\n成团：2\n截止：2h\n取货点：东门，会所")
    assert [o.name for o in deal.options] == ["小箱", "大箱"]
    assert deal.pickups == ("东门", "会所")


@pytest.mark.parametrize(("body", "field", "problem"), PROBLEM_STORIES)
def test_every_problem_names_its_field(body: str, field: str, problem: str) -> None:
    context = reply_to(body)
    assert (context["field"], context["problem"]) == (field, problem)


def test_every_problem_code_has_a_story() -> None:
    told = {(field, problem) for _, field, problem in PROBLEM_STORIES} | REPOST_ONLY
    for field, problems in PROBLEMS.items():
        assert {(field, problem) for problem in problems} <= told
    assert {problem for _, problem in told} >= set(KEY_PROBLEMS)


# --- the forms from PRODUCT.md ------------------------------------------------------------


def test_the_multi_line_form_from_the_product_spec() -> None:
    deal = leader_posts(
        "Alphonso mangoes, 5 kg box\n"
        "price: 12.50\n"
        "min: 10\n"
        "deadline: 2026-11-25 20:00\n"
        "stock: 50\n"
        "limit: 2\n"
        "mode: rounds\n"
        "note: Pickup Saturday 10:00-12:00 at the clubhouse"
    )
    assert deal == DealForm(
        title="Alphonso mangoes, 5 kg box",
        price=1250,
        min_members=10,
        deadline=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        stock=50,
        limit=2,
        mode=Mode.ROUNDS,
        note="Pickup Saturday 10:00-12:00 at the clubhouse",
    )


def test_the_one_line_form_from_the_product_spec() -> None:
    deal = leader_posts(" Mangoes 5kg price=12.5 min=10 deadline=2h")
    assert (deal.title, deal.price, deal.min_members) == ("Mangoes 5kg", 1250, 10)
    assert deal.deadline == NOW + timedelta(hours=2)
    assert (deal.stock, deal.limit, deal.mode, deal.note, deal.description) == (
        None,
        None,
        Mode.ROUNDS,
        None,
        None,
    )


def test_a_one_line_value_runs_to_the_next_key() -> None:
    deal = leader_posts(
        "Mangoes deadline=2026-11-25 20:00 stock=50 price=3 min=2 note=Gate B, 10:00"
    )
    assert deal.deadline == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert (deal.stock, deal.price, deal.note) == (50, 300, "Gate B, 10:00")


def test_pairs_may_follow_the_title_and_share_lines() -> None:
    deal = leader_posts("\nMangoes price=3 min=2\ndeadline: 2h stock: 4 limit=1")
    assert (deal.title, deal.price, deal.min_members, deal.stock, deal.limit) == (
        "Mangoes",
        300,
        2,
        4,
        1,
    )


def test_a_chinese_form_with_full_width_colons() -> None:
    deal = leader_posts(
        "芒果 5斤装\n价格：１２.５\n成团：10人\n截止：1天12小时\n"
        "库存：５０\n限购：2\n模式：接龙\n备注：周六自提"
    )
    assert deal.title == "芒果 5斤装"
    assert (deal.price, deal.min_members, deal.stock, deal.limit) == (1250, 10, 50, 2)
    assert deal.deadline == NOW + timedelta(days=1, hours=12)
    assert (deal.mode, deal.note) == (Mode.TIPPING, "周六自提")


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("单价", "price"),
        ("成团人数", "min"),
        ("人数", "min"),
        ("截止时间", "deadline"),
        ("取货", "note"),
        ("desc", "description"),
        ("描述", "description"),
        ("说明", "description"),
        ("PRICE", "price"),
        (" Note ", "note"),
    ],
)
def test_every_alias_names_its_field(key: str, field: str) -> None:
    assert reply_to(form(f"{key}= "))["field"] == field


def test_equals_signs_and_full_width_equals_work_like_colons() -> None:
    deal = leader_posts("Mangoes\nprice=1\nmin＝2\ndeadline = 2h")
    assert (deal.price, deal.min_members) == (100, 2)


# --- description --------------------------------------------------------------------------


def test_lines_without_a_key_are_the_description_in_order() -> None:
    deal = leader_posts(
        form(
            "Sweet and juicy", "Origin farm: India", "description: Ripe on arrival", "10:00 pickup"
        )
    )
    assert deal.description == "Sweet and juicy\nOrigin farm: India\nRipe on arrival\n10:00 pickup"


def test_a_link_on_its_own_line_is_description_not_a_field() -> None:
    assert leader_posts(form("https://example.com/mango?a=1")).description == (
        "https://example.com/mango?a=1"
    )


def test_a_misspelt_key_is_reported_not_swallowed_as_description() -> None:
    assert reply_to(form("lmit: 2")) == {
        "field": "lmit",
        "problem": "unknown_field",
        "value": "2",
        "digits": 2,
        "limits": FORM_LIMITS,
    }


def test_an_unknown_key_in_a_one_line_form_is_reported() -> None:
    assert reply_to("Mangoes price=1 minn=2 deadline=2h")["field"] == "minn"


def test_a_long_word_before_a_colon_is_prose() -> None:
    assert leader_posts(form("Incomprehensibly: sweet")).description == "Incomprehensibly: sweet"


# --- title --------------------------------------------------------------------------------


def test_a_title_may_contain_a_colon() -> None:
    assert leader_posts(form(title="Mangoes: the good ones")).title == "Mangoes: the good ones"


def test_a_title_that_is_only_a_field_is_missing() -> None:
    assert reply_to("price=1 min=2 deadline=2h")["field"] == "title"


def test_the_first_missing_field_is_reported_in_form_order() -> None:
    assert reply_to("Mangoes\nstock: 5")["field"] == "price"
    assert reply_to("Mangoes\ndeadline: 2h")["field"] == "price"
    assert reply_to("Mangoes\nprice: 1\ndeadline: 2h")["field"] == "min"


def test_user_text_is_kept_verbatim_but_control_characters_go() -> None:
    deal = leader_posts(
        "<b>Man\x00goes</b>\x07 *sale* _now_ 🥭\tbox\r\nprice: 1\r\nmin: 2\rdeadline: 2h\u2028"
        "note: <i>gate</i> &amp;"
    )
    assert deal.title == "<b>Mangoes</b> *sale* _now_ 🥭 box"
    assert deal.note == "<i>gate</i> &amp;"


def test_invisible_lines_are_no_lines() -> None:
    assert reply_to("\u200b\n \u3000\n\x00")["problem"] == "empty"
    assert reply_to("\u200b\nprice: 1")["field"] == "title"


def test_a_title_of_120_characters_is_fine() -> None:
    assert len(leader_posts(form(title="M" * 120)).title) == 120


def test_an_error_quotes_at_most_50_characters_of_user_text() -> None:
    assert reply_to(form(title="M" * 500))["value"] == "M" * 50


# --- price, counts and mode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "minor"), [("12", 1200), ("¥8.8", 880), ("９元", 900), ("1000000", 100000000)]
)
def test_prices(typed: str, minor: int) -> None:
    assert leader_posts(form_without("price", f"price: {typed}")).price == minor


def test_a_negative_price_is_not_positive_rather_than_not_money() -> None:
    assert reply_to(form_without("price", "price: -5"))["problem"] == "not_positive"


def test_a_currency_without_cents_reads_whole_prices_and_says_so_in_errors() -> None:
    deal = parse_deal_form(
        form_without("price", "price: 1250"), now=NOW, tz=SHANGHAI, money_digits=0
    )
    assert deal.price == 1250
    context = reply_to(form_without("price", "price: 12.50"), money_digits=0)
    assert (context["problem"], context["digits"]) == ("not_money", 0)


def test_out_of_range_says_the_range() -> None:
    context = reply_to(form_without("min", "min: 10001"))
    assert (context["min"], context["max"]) == (1, 10_000)
    assert reply_to(form("limit: -1"))["problem"] == "out_of_range"


def test_stock_may_equal_min() -> None:
    assert leader_posts(form("stock: 10")).stock == 10


def test_stock_below_min_says_what_min_is() -> None:
    assert reply_to(form("stock: 5"))["min"] == 10


@pytest.mark.parametrize(
    ("typed", "mode"),
    [
        ("rounds", Mode.ROUNDS),
        ("拼团", Mode.ROUNDS),
        ("Tipping", Mode.TIPPING),
        ("接龙", Mode.TIPPING),
        ("tipping  point", Mode.TIPPING),
        ("tipping-point", Mode.TIPPING),
    ],
)
def test_modes(typed: str, mode: Mode) -> None:
    assert leader_posts(form(f"mode: {typed}")).mode == mode


# --- deadline -----------------------------------------------------------------------------


def deadline(typed: str, *, now: datetime = NOW, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The deadline a form with `deadline: typed` gets."""
    return leader_posts(form_without("deadline", f"deadline: {typed}"), now=now, tz=tz).deadline


@pytest.mark.parametrize(
    ("typed", "after"),
    [
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d 2h 3m", timedelta(days=1, hours=2, minutes=3)),
        ("2H", timedelta(hours=2)),
        ("2小时", timedelta(hours=2)),
        ("2个小时", timedelta(hours=2)),
        ("3时", timedelta(hours=3)),
        ("1天12小时", timedelta(days=1, hours=12)),
        ("45分钟", timedelta(minutes=45)),
        ("45分", timedelta(minutes=45)),
        ("９０m", timedelta(minutes=90)),
        ("90d", timedelta(days=90)),
    ],
)
def test_a_duration_counts_from_now(typed: str, after: timedelta) -> None:
    assert deadline(typed) == NOW + after


def test_a_duration_drops_the_seconds_of_now() -> None:
    now = NOW + timedelta(seconds=7, microseconds=5)
    assert deadline("2h", now=now) == NOW + timedelta(hours=2, seconds=7)


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-11-25 20:00", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("2026/11/25 20:00", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("２０２６－１１－２５　２０：００", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("2026年11月25日 20:00", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("11-25 20:00", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("01-05 10:00", datetime(2027, 1, 5, 2, 0, tzinfo=UTC)),
        ("21:00", datetime(2026, 11, 20, 13, 0, tzinfo=UTC)),
        ("19:00", datetime(2026, 11, 21, 11, 0, tzinfo=UTC)),
        ("20:00", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("0:30", datetime(2026, 11, 20, 16, 30, tzinfo=UTC)),
    ],
)
def test_a_wall_clock_deadline_is_read_in_the_groups_time_zone(typed: str, utc: datetime) -> None:
    assert deadline(typed) == utc


def test_a_deadline_in_a_dst_gap_moves_forward_by_the_gap() -> None:
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    # Clocks jump from 02:00 to 03:00 on 2026-03-08: 02:30 reads as 03:30 EDT.
    assert deadline("2026-03-08 02:30", now=now, tz=new_york) == datetime(
        2026, 3, 8, 7, 30, tzinfo=UTC
    )


def test_a_repeated_wall_clock_time_means_its_first_occurrence() -> None:
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    assert deadline("2026-11-01 01:30", now=now, tz=new_york) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("2026-11-25", "bad_deadline"),
        ("tomorrow", "bad_deadline"),
        ("25:00", "bad_deadline"),
        ("2026-02-30 10:00", "bad_deadline"),
        ("2h30", "bad_deadline"),
        ("30m2h", "bad_deadline"),
        ("-2h", "bad_deadline"),
        ("0m", "in_past"),
        ("2026-11-20 20:00", "in_past"),
        ("0001-01-01 00:00", "in_past"),
        ("11-19 10:00", "too_far"),
        ("90d1m", "too_far"),
        ("99999999999999999999d", "too_far"),
        ("9999-12-31 23:59", "too_far"),
    ],
)
def test_deadlines_that_cannot_be(typed: str, problem: str) -> None:
    context = reply_to(form_without("deadline", f"deadline: {typed}"))
    assert (context["field"], context["problem"], context["value"]) == ("deadline", problem, typed)


# --- a sale that opens later (start) --------------------------------------------------------


def test_without_a_start_the_deal_opens_at_once() -> None:
    assert leader_posts(form()).start is None


@pytest.mark.parametrize(
    ("lines", "start", "deadline"),
    [
        # 20:30 today in Shanghai; a duration deadline counts from the start.
        (("start: 20:30", "deadline: 2h"), (12, 30), (14, 30)),
        (("start=30m", "deadline=2h"), (12, 30), (14, 30)),
        (("开始：21:00", "截止：2小时"), (13, 0), (15, 0)),
        (("开抢: 21:00", "截止: 23:00"), (13, 0), (15, 0)),
        (("start: 2026-11-20 22:00", "deadline: 2026-11-21 10:00"), (14, 0), (26, 0)),
    ],
)
def test_a_start_is_read_like_a_deadline_and_a_duration_deadline_counts_from_it(
    lines: tuple[str, str], start: tuple[int, int], deadline: tuple[int, int]
) -> None:
    deal = leader_posts("\n".join(["Flash mangoes", "price: 9.90", "min: 5", *lines]))
    day = datetime(2026, 11, 20, tzinfo=UTC)
    assert deal.start == day + timedelta(hours=start[0], minutes=start[1])
    assert deal.deadline == day + timedelta(hours=deadline[0], minutes=deadline[1])


def test_a_clock_time_deadline_is_the_next_one_after_the_start() -> None:
    # 19:00 has passed today (it is 20:00): the sale opens tomorrow at 19:00, and
    # "21:00" is the evening of that day, not tonight.
    deal = leader_posts("Mangoes\nprice: 5\nmin: 2\nstart: 19:00\ndeadline: 21:00")
    assert deal.start == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    assert deal.deadline == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)


def test_a_one_line_form_takes_a_start() -> None:
    deal = leader_posts("Mangoes price=5 min=2 start=30m deadline=1h")
    assert deal.start == NOW + timedelta(minutes=30)
    assert deal.deadline == NOW + timedelta(minutes=90)


@pytest.mark.parametrize(
    ("lines", "field", "problem", "value"),
    [
        (("start: 2026-11-20 19:59", "deadline: 2h"), "start", "in_past", "2026-11-20 19:59"),
        (("start: 0m", "deadline: 2h"), "start", "in_past", "0m"),
        (("start: 3h", "deadline: 2026-11-20 22:00"), "start", "after_deadline", "3h"),
        (
            ("start: 2026-11-20 22:00", "deadline: 2026-11-20 22:00"),
            "start",
            "after_deadline",
            "2026-11-20 22:00",
        ),
        (("start: 25:00", "deadline: 2h"), "start", "bad_start", "25:00"),
        (("start: 89d", "deadline: 2d"), "deadline", "too_far", "2d"),
        (("start: 1h",), "deadline", "missing", None),
    ],
)
def test_starts_that_cannot_be_name_the_field(
    lines: tuple[str, ...], field: str, problem: str, value: str | None
) -> None:
    context = reply_to("\n".join(["Mangoes", "price: 5", "min: 2", *lines]))
    assert (context["field"], context["problem"], context["value"]) == (field, problem, value)


def test_a_start_error_renders_naming_the_start() -> None:
    context = reply_to(form("start: 2026-11-20 19:00"))
    for env in environments():
        text = env.get_template("deal_form_error.j2").render(**context)
        assert "<b>start</b>: “2026-11-20 19:00” is not in the future." in text
        assert "before the deadline" in text


def test_too_far_says_how_far_is_allowed() -> None:
    assert reply_to(form_without("deadline", "deadline: 100d"))["max_days"] == 90


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        parse_deal_form(form(), now=NOW.replace(tzinfo=None), tz=SHANGHAI)


# --- strange input ------------------------------------------------------------------------

ALL_PROBLEMS = {problem for problems in PROBLEMS.values() for problem in problems}
ALL_PROBLEMS |= set(KEY_PROBLEMS)


@given(st.text(max_size=300))
def test_arbitrary_text_is_a_deal_or_a_form_error(body: str) -> None:
    try:
        deal = leader_posts(body)
    except FormError as error:
        assert error.problem in ALL_PROBLEMS
        value = error.context["value"]
        assert value is None or len(value) <= 50
        return
    assert 1 <= len(deal.title) <= 120
    assert deal.price > 0 and deal.deadline > NOW


@given(
    st.lists(
        st.sampled_from(
            [
                "Mangoes",
                "price",
                "min",
                "deadline",
                "stock",
                "mode",
                "价格",
                "截止",
                ":",
                "：",
                "=",
                " ",
                "\n",
                "2h",
                "12.5",
                "-",
                "10:00",
                "2026-11-25",
                "<b>",
                "*_",
                "🥭",
                "\x00",
                "\r",
            ]
        ),
        max_size=30,
    )
)
def test_form_like_noise_is_a_deal_or_a_form_error(words: list[str]) -> None:
    try:
        leader_posts("".join(words))
    except FormError as error:
        assert error.problem in ALL_PROBLEMS


TITLES = st.text(
    alphabet=st.characters(categories=["L", "N", "So"]) | st.sampled_from(" <>*_&"),
    min_size=1,
    max_size=60,
).filter(str.strip)


@given(
    title=TITLES,
    price=st.integers(min_value=1, max_value=100_000_000),
    min_members=st.integers(min_value=1, max_value=10_000),
    extra_stock=st.none() | st.integers(min_value=0, max_value=1000),
    minutes=st.integers(min_value=1, max_value=90 * 1440),
    one_line=st.booleans(),
)
def test_a_well_formed_deal_reads_back_as_typed(
    title: str, price: int, min_members: int, extra_stock: int | None, minutes: int, one_line: bool
) -> None:
    stock = None if extra_stock is None else min_members + extra_stock
    days, rest = divmod(minutes, 1440)
    pairs = [
        f"price={format_money(price)}",
        f"min={min_members}",
        f"deadline={days}d{rest // 60}h{rest % 60}m",
        *([] if stock is None else [f"stock={stock}"]),
    ]
    deal = leader_posts(" ".join([title, *pairs]) if one_line else "\n".join([title, *pairs]))
    assert deal == DealForm(
        title=title.strip(),
        price=price,
        min_members=min_members,
        deadline=NOW + timedelta(minutes=minutes),
        stock=stock,
    )


# --- templates ----------------------------------------------------------------------------


def environments() -> list[jinja2.Environment]:
    """The English environment of bot.texts (strict, trimmed blocks, the catalogs)."""
    return [Texts().env]


@pytest.mark.parametrize(("body", "field", "problem"), PROBLEM_STORIES)
def test_every_form_error_renders_a_short_answer_with_an_example(
    body: str, field: str, problem: str
) -> None:
    context = reply_to(body)
    for env in environments():
        text = env.get_template("deal_form_error.j2").render(**context)
        assert len(text) < 1500
        assert "<pre>/deal" in text and "deadline: 2d" in text
        assert f"<b>{field}</b>" in text
        assert "is not right" not in text  # every problem has its own sentence


@pytest.mark.parametrize(
    "context",
    [
        {"field": field, "problem": problem}
        for field, problems in PROBLEMS.items()
        for problem in (*problems, *KEY_PROBLEMS)
    ]
    + [{"field": "<script>", "problem": "unknown_field"}],
)
def test_user_text_in_an_error_is_escaped(context: dict[str, str]) -> None:
    extras = {"value": "<script>", "max": 1, "min": 1, "max_days": 90, "digits": 2}
    extras["limits"] = FORM_LIMITS
    for env in environments():
        text = env.get_template("deal_form_error.j2").render(**extras, **context)
        assert "<script>" not in text
        assert "<" not in text.replace("<b>", "").replace("</b>", "").replace("<code>", "").replace(
            "</code>", ""
        ).replace("<pre>", "").replace("</pre>", "")


def test_the_example_in_an_error_is_a_valid_form() -> None:
    text = (
        environments()[0]
        .get_template("deal_form_error.j2")
        .render(field="min", problem="missing", value=None, digits=2, limits=FORM_LIMITS)
    )
    example = text.split("<pre>")[1].split("</pre>")[0]
    assert example.startswith("/deal ")
    assert leader_posts(example.removeprefix("/deal ")).title == "Alphonso mangoes, 5 kg box"


@pytest.mark.parametrize(
    ("body", "bounds"),
    [
        ("x" * 121 + "\nprice: 1\nmin: 1\ndeadline: 2h", f"{FORM_LIMITS['title']} "),
        (form().replace("min: 10", "min: 0"), "{} to {}".format(*FORM_LIMITS["min_members"])),
        (form("limit: 0"), "{} to {}".format(*FORM_LIMITS["limit"])),
        (form().replace("2h", "400d"), f"{FORM_LIMITS['days']} days"),
        (
            form("options: " + "; ".join(f"o{n} 1" for n in range(9))),
            f"{FORM_LIMITS['options']} options",
        ),
    ],
)
def test_how_to_lines_quote_the_bounds_the_parser_applies(body: str, bounds: str) -> None:
    context = reply_to(body)
    text = environments()[0].get_template("deal_form_error.j2").render(**context)
    how = text.split("\n\n")[0]  # the problem and the how-to line, before the example
    assert bounds in how, how


@pytest.mark.parametrize("digits", [0, 2])
def test_the_usage_shows_both_forms_that_work(digits: int) -> None:
    for env in environments():
        text = env.get_template("deal_usage.j2").render(digits=digits)
        assert len(text) < 1500
        assert "价格 成团 截止 库存 限购 模式 备注" in text and "photo" in text
        multi, one_line = (part.split("</pre>")[0] for part in text.split("<pre>")[1:])
        for example in (multi, one_line):
            deal = parse_deal_form(
                example.removeprefix("/deal "), now=NOW, tz=SHANGHAI, money_digits=digits
            )
            assert deal.price > 0


def test_the_usage_renders_without_context() -> None:
    for env in environments():
        assert "<pre>/deal" in env.get_template("deal_usage.j2").render()


# -- forms in 繁體 and Русский ------------------------------------------------------------


def test_a_form_in_traditional_chinese_reads_like_the_simplified_one() -> None:
    form = leader_posts("芒果\n價格：12.5\n成團：10\n截止：3天\n庫存：50\n限購：2\n模式：接龍")
    assert (form.price, form.min_members, form.stock, form.limit) == (1250, 10, 50, 2)
    assert form.mode is Mode.TIPPING


def test_a_russian_form_takes_the_decimal_comma_durations_and_day_first_dates() -> None:
    form = leader_posts("Манго\nцена: 12,5\nминимум: 10\nсрок: 2ч\nрежим: порог")
    assert (form.price, form.min_members, form.mode) == (1250, 10, Mode.TIPPING)
    dated = leader_posts("Манго\nцена: 12\nминимум: 1\nсрок: 25.11 20:00")
    assert dated.deadline.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "11-25 20:00"


@pytest.mark.parametrize(
    ("body", "group", "answer"),
    [
        ("Манго\nцена: дёшево\nсрок: 2ч", "en", "ru"),
        ("芒果\n價格：1\n成團：2", "en", "zh-Hant"),
        ("芒果\n价格：1\n成团：2", "zh-Hant", "zh-Hans"),
        ("芒果\n截止：2h", "zh-Hant", "zh-Hant"),  # both scripts write 截止: the group's
        ("芒果\n截止：2h", "en", "zh-Hans"),
        ("Mango price=1 min=2", "ru", "ru"),  # English keys: the group's language
        ("Mango цена=1 价格=2", "en", "en"),  # mixed: the group's
    ],
)
def test_a_form_is_answered_in_the_language_its_keys_are_written_in(
    body: str, group: str, answer: str
) -> None:
    assert forms.written_in(body, group) == answer


@pytest.mark.parametrize(
    ("deadline", "day_first", "expected"),
    [
        ("01.12 20:00", True, "12-01 20:00"),  # Russian: 1 December
        ("01.12 20:00", False, "01-12 20:00"),  # elsewhere month first: 12 January
        ("25.11.2026 20:00", True, "11-25 20:00"),
        ("25.11 20:00", False, "11-25 20:00"),  # no 25th month: day first either way
    ],
)
def test_a_dotted_date_is_read_day_first_in_a_russian_form(
    deadline: str, day_first: bool, expected: str
) -> None:
    form = parse_deal_form(
        f"Манго\nцена: 1\nминимум: 1\nсрок: {deadline}", now=NOW, tz=SHANGHAI, day_first=day_first
    )
    assert form.deadline.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == expected
