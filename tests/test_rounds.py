"""The round state machine's rules, in milliseconds."""

from __future__ import annotations

import pytest

from bot.core import rounds
from bot.core.errors import UserError
from bot.core.models import DealStatus, RoundStatus
from bot.core.rounds import CloseChoice, RoundFacts, Verdict


def facts(mode: str = "rounds", members: int = 0, **kw: object) -> RoundFacts:
    values: dict[str, object] = {"min_members": 3, "stock": None, "taken": 0, "tipped": False}
    values.update(kw)
    return RoundFacts(mode=mode, members=members, **values)  # type: ignore[arg-type]


def join_check(**kw: object) -> None:
    values: dict[str, object] = {
        "status": DealStatus.OPEN,
        "now": 100,
        "deadline": 200,
        "held": 0,
        "limit": None,
        "stock": None,
        "taken": 0,
    }
    values.update(kw)
    rounds.check_join(**values)  # type: ignore[arg-type]


def test_a_round_forms_when_the_third_of_three_joins() -> None:
    assert rounds.after_join(facts(members=2)) is Verdict.NONE
    assert rounds.after_join(facts(members=3)) is Verdict.FORM


def test_tipping_announces_once_and_closes_at_sell_out() -> None:
    assert rounds.after_join(facts("tipping", members=3)) is Verdict.TIP
    assert rounds.after_join(facts("tipping", members=4, tipped=True)) is Verdict.NONE
    assert rounds.after_join(facts("tipping", members=1, stock=5, taken=5)) is Verdict.SELL_OUT


def test_join_is_refused_with_the_reason() -> None:
    join_check()
    with pytest.raises(UserError) as closed:
        join_check(status=DealStatus.CLOSED)
    assert closed.value.template == "tap_closed"
    with pytest.raises(UserError) as late:
        join_check(now=200)
    assert late.value.template == "tap_closed"
    with pytest.raises(UserError) as limit:
        join_check(limit=2, held=2)
    assert (limit.value.template, limit.value.context) == ("tap_limit", {"limit": 2})
    with pytest.raises(UserError) as sold:
        join_check(stock=5, taken=5)
    assert sold.value.template == "tap_sold_out"


@pytest.mark.parametrize(
    ("members", "choice", "expected"),
    [
        (3, None, RoundStatus.FORMED),
        (2, None, RoundStatus.FAILED),
        (0, None, RoundStatus.FAILED),
        (1, CloseChoice.CONFIRM, RoundStatus.FORMED),
        (0, CloseChoice.CONFIRM, RoundStatus.FAILED),
        (5, CloseChoice.CANCEL, RoundStatus.FAILED),
    ],
)
def test_how_a_round_ends(members: int, choice: CloseChoice | None, expected: RoundStatus) -> None:
    assert rounds.at_close(members, 3, choice) is expected


def test_a_fresh_round_opens_only_in_rounds_mode_with_time_and_stock_left() -> None:
    assert rounds.opens_next_round(mode="rounds", now=1, deadline=2, stock=None, taken=9)
    assert not rounds.opens_next_round(mode="rounds", now=2, deadline=2, stock=None, taken=0)
    assert not rounds.opens_next_round(mode="rounds", now=1, deadline=2, stock=9, taken=9)
    assert not rounds.opens_next_round(mode="tipping", now=1, deadline=2, stock=None, taken=0)


def test_reminders_skip_deals_posted_inside_the_window() -> None:
    assert rounds.reminder_at(created_at=0, deadline=7200, before=3600) == 3600
    assert rounds.reminder_at(created_at=4000, deadline=7200, before=3600) is None
    assert rounds.reminder_at(created_at=0, deadline=7200, before=0) is None
