"""Money in minor units: what leaders type is read exactly, and written back the same way."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.money import format_money, parse_money


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("12", 1200),
        ("0.01", 1),
        (" 7.05 ", 705),
        ("１２．５０", 1250),
        ("¥12.5", 1250),
        ("￥12", 1200),
        ("$ 3", 300),
        ("€0.99", 99),
        ("£1000", 100000),
        ("12元", 1200),
        ("8.8 块", 880),
        ("007", 700),
        ("12,50", 1250),  # the decimal comma, as Russian writes it
        ("12,5 ₽", 1250),
        ("HK$12", 1200),
    ],
)
def test_a_leader_may_type_the_price_the_way_they_write_it(text: str, minor: int) -> None:
    assert parse_money(text) == minor


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "1,000",
        "1,2345",
        "-5",
        "12.",
        ".5",
        "12.505",
        "1e3",
        "twelve",
        "12 USD",
        "¥",
        "1 2",
    ],
)
def test_anything_else_is_not_money(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text)


def test_a_currency_without_cents_takes_whole_numbers_only() -> None:
    assert parse_money("1250", digits=0) == 1250
    with pytest.raises(ValueError):
        parse_money("12.5", digits=0)


def test_a_currency_with_three_decimals_keeps_them_all() -> None:
    assert parse_money("1.5", digits=3) == 1500
    assert parse_money("1.005", digits=3) == 1005


@pytest.mark.parametrize(
    ("minor", "digits", "text"),
    [(1250, 2, "12.50"), (5, 2, "0.05"), (0, 2, "0.00"), (1250, 0, "1250"), (-705, 2, "-7.05")],
)
def test_amounts_are_written_as_plain_decimals(minor: int, digits: int, text: str) -> None:
    assert format_money(minor, digits) == text


def test_negative_digits_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        format_money(1, -1)
    with pytest.raises(ValueError):
        parse_money("1", -1)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=4))
def test_what_is_written_reads_back_the_same(minor: int, digits: int) -> None:
    assert parse_money(format_money(minor, digits), digits) == minor


@given(st.text(max_size=40))
def test_any_text_is_an_amount_or_a_value_error(text: str) -> None:
    try:
        minor = parse_money(text)
    except ValueError:
        return
    assert minor >= 0
