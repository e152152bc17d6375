"""Budgets by the clock: spent, refilled over the window, and forgotten when full."""

from __future__ import annotations

from bot.config import LimitSettings
from bot.limits import Budget, Limits, Verdict


def test_a_budget_is_spent_then_comes_back_evenly_over_its_window() -> None:
    budget = Budget(5, 30.0)
    assert [budget.take("ann", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert budget.take("bob", 0.0)  # each key has its own
    assert budget.take("ann", 6.0)  # one back after a fifth of the window
    assert not budget.take("ann", 6.0)
    assert all(budget.take("ann", 40.0) for _ in range(5))


def test_only_keys_seen_within_the_window_are_kept() -> None:
    budget = Budget(5, 30.0)
    for user in range(1000):
        budget.take(user, 0.0)
    budget.take("late", 29.0)
    budget.take("now", 31.0)
    assert len(budget) == 2


def test_a_member_over_budget_is_told_once_per_window_and_never_spends_the_groups() -> None:
    limits = Limits(LimitSettings(member_commands=2, group_commands=3), exempt=[7])
    verdicts = [limits.command(1, -100, 0.0) for _ in range(5)]
    assert verdicts == [Verdict.ANSWER] * 2 + [Verdict.TELL] + [Verdict.QUIET] * 2
    assert limits.command(2, -100, 0.0) is Verdict.ANSWER  # the group's third
    assert limits.command(3, -100, 0.0) is Verdict.TELL  # the group is spent
    assert all(limits.command(7, -100, 0.0) is Verdict.ANSWER for _ in range(10))
    assert limits.command(1, None, 1.0) is Verdict.ANSWER  # private chats: their own budget
