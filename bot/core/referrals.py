"""Referral rules: who may be attributed to whom, and what a confirmed order earns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.money import parse_money, scale

MAX_LEVELS = 3
# A fixed reward per referred order, at most (in units of the currency).
MAX_FIXED_REWARD = 1_000_000


class Attribution(StrEnum):
    """What opening a friend's invite link did."""

    ATTRIBUTED = "attributed"
    ALREADY = "already"  # first attribution wins
    SELF = "self"  # nobody refers themselves
    CYCLE = "cycle"  # the referrer was (indirectly) brought by this member
    CUSTOMER = "customer"  # already ordered in the group: nobody brought them


def attribution(
    *,
    referee: int,
    referrer: int,
    existing_referrer: int | None,
    has_ordered: bool,
    referrer_chain: list[int],
) -> Attribution:
    """Whether `referrer` may be recorded as having brought `referee` to the group.

    `referrer_chain` is the referrer's own referrer, that one's referrer, and so on.
    """
    if referee == referrer:
        return Attribution.SELF
    if existing_referrer is not None:
        return Attribution.ALREADY
    if has_ordered:
        return Attribution.CUSTOMER
    if referee in referrer_chain:
        return Attribution.CYCLE
    return Attribution.ATTRIBUTED


@dataclass(frozen=True)
class RewardRule:
    """A group's reward setting."""

    kind: str  # "fixed" (minor units per order) or "percent" (basis points of its value)
    value: int
    levels: int = 1


def reward(amount: int, rule: RewardRule) -> int:
    """What the direct referrer earns for a confirmed order of this value (minor units)."""
    if rule.kind == "fixed":
        return rule.value
    return amount * rule.value // 10_000  # basis points, rounded down: never overpay


def rewards(amount: int, chain: list[int], rule: RewardRule) -> list[tuple[int, int, int]]:
    """(user, level, amount) for each referrer up the chain the rule pays.

    Level 1 earns the full reward; each level above earns half the one below (rounded
    down), and no more than three levels are ever paid.
    """
    levels = max(1, min(rule.levels, MAX_LEVELS))
    base = reward(amount, rule)
    out = []
    for level, user in enumerate(chain[:levels], start=1):
        earned = base >> (level - 1)
        if earned > 0:
            out.append((user, level, earned))
    return out


def parse_reward(text: str, digits: int) -> RewardRule:
    """`5%`, `2.5%`, `0` or a fixed amount like `1.50`; ValueError for anything else."""
    word = text.strip().replace("％", "%")
    if word.endswith("%"):
        number = word[:-1].strip()
        basis_points = parse_money(number, 2)  # "2.5" → 250, i.e. hundredths of a percent
        if basis_points > 10_000:
            raise ValueError("more than 100%")
        return RewardRule("percent", basis_points)
    fixed = parse_money(word, digits) if word not in ("0", "off") else 0
    if fixed > MAX_FIXED_REWARD * scale(digits):
        raise ValueError(f"more than {MAX_FIXED_REWARD} per order")
    return RewardRule("fixed", fixed)
