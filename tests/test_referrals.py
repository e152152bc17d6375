"""Referral rules and the ledger: unit tests, and properties over any sequence of events."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.core.forms import DealForm
from bot.core.links import Links, Payload
from bot.core.models import Member
from bot.core.referrals import Attribution, RewardRule, attribution, parse_reward, reward, rewards
from bot.core.rounds import CloseChoice
from storage.engines import SqliteEngine
from storage.store import Store

NOW = 1_800_000_000


def test_first_attribution_wins_and_nobody_refers_themselves() -> None:
    base = {"existing_referrer": None, "has_ordered": False, "referrer_chain": [2]}
    assert attribution(referee=1, referrer=2, **base) is Attribution.ATTRIBUTED
    assert attribution(referee=2, referrer=2, **base) is Attribution.SELF
    assert (
        attribution(referee=1, referrer=2, **(base | {"existing_referrer": 3}))
        is Attribution.ALREADY
    )
    assert attribution(referee=1, referrer=2, **(base | {"has_ordered": True})) is (
        Attribution.CUSTOMER
    )


def test_no_cycles_however_long_the_chain() -> None:
    # 1 brought 2, 2 brought 3: 3 may not bring 1.
    assert (
        attribution(
            referee=1,
            referrer=3,
            existing_referrer=None,
            has_ordered=False,
            referrer_chain=[3, 2, 1],
        )
        is Attribution.CYCLE
    )


def test_reward_arithmetic_is_integer_and_rounds_down() -> None:
    assert reward(1250, RewardRule("percent", 500)) == 62  # 5% of 12.50 = 0.625
    assert reward(1250, RewardRule("fixed", 100)) == 100
    assert rewards(1000, [7, 8, 9, 10], RewardRule("percent", 1000, levels=3)) == [
        (7, 1, 100),
        (8, 2, 50),
        (9, 3, 25),
    ]
    assert rewards(1000, [7, 8], RewardRule("percent", 1000, levels=1)) == [(7, 1, 100)]
    assert len(rewards(1000, [1, 2, 3, 4, 5], RewardRule("fixed", 8, levels=9))) == 3


def test_reward_settings_parse() -> None:
    assert parse_reward("5%", 2) == RewardRule("percent", 500)
    assert parse_reward("2.5 %", 2) == RewardRule("percent", 250)
    assert parse_reward("1.50", 2) == RewardRule("fixed", 150)
    assert parse_reward("off", 2) == RewardRule("fixed", 0)


# -- the ledger, driven through the real store -------------------------------------------

GROUP = -100
LEADER = Member(user_id=1, first_name="Lena")
PEOPLE = [Member(user_id=10 + n, first_name=f"P{n}") for n in range(6)]

events = st.lists(
    st.one_of(
        st.tuples(st.just("refer"), st.integers(0, 5), st.integers(0, 5)),
        st.tuples(st.just("join"), st.integers(0, 5), st.integers(0, 2)),
        st.tuples(st.just("leave"), st.integers(0, 5), st.integers(0, 2)),
        st.tuples(st.just("close"), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 2), st.none()),
        st.tuples(st.just("payout"), st.integers(0, 5), st.integers(1, 300)),
    ),
    max_size=40,
)


async def play(store: Store, script: list[tuple[str, int, object]], levels: int) -> None:
    await store.groups.ensure_group(GROUP, "G", tz="UTC", currency="CNY", lang="en", now=NOW)
    await store.groups.update_group(GROUP, reward_kind="percent", reward_value=1000, levels=levels)
    deals = []
    for n in range(3):
        form = DealForm(
            title=f"D{n}",
            price=100 + 37 * n,
            min_members=2,
            deadline=datetime.fromtimestamp(NOW, UTC) + timedelta(days=1),
        )
        deal = await store.deals.create_deal(
            chat_id=GROUP, leader=LEADER, form=form, photo_file_id=None, currency="CNY", now=NOW
        )
        deals.append(deal.id)
    for kind, a, b in script:
        try:
            if kind == "refer":
                await store.ledger.attribute(
                    GROUP, PEOPLE[a].user_id, PEOPLE[int(b)].user_id, deals[0], NOW
                )
            elif kind == "join":
                await store.rounds.join_round(deals[int(b)], PEOPLE[a], NOW)
            elif kind == "leave":
                await store.rounds.leave_round(deals[int(b)], PEOPLE[a].user_id, NOW)
            elif kind == "close":
                choice = CloseChoice.CONFIRM if b else CloseChoice.CANCEL
                await store.rounds.close_deal(deals[a], NOW, choice)
            elif kind == "cancel":
                await store.rounds.cancel_deal(deals[a], NOW)
            elif kind == "payout":
                before = await store.ledger.balance(GROUP, PEOPLE[a].user_id)
                try:
                    after = await store.ledger.payout(
                        GROUP, PEOPLE[a].user_id, int(b), "CNY", 1, NOW
                    )
                except UserError:
                    assert int(b) > before
                else:
                    assert after == before - int(b) >= 0
        except UserError:
            pass  # refused taps change nothing; the checks below prove it


def ledger_facts(path: Path) -> tuple[list[tuple[int, int, int]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        sums = db.execute(
            "SELECT user_id, SUM(amount), COUNT(*) FROM ledger GROUP BY user_id"
        ).fetchall()
        rewards_rows = db.execute(
            "SELECT l.id, l.amount, o.status, o.referrer_id, l.user_id, l.level,"
            " (SELECT COUNT(*) FROM ledger r WHERE r.reverses_id = l.id)"
            " FROM ledger l JOIN orders o ON o.id = l.order_id WHERE l.kind = 'reward'"
        ).fetchall()
    return sums, rewards_rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=events, levels=st.integers(1, 3))
def test_the_ledger_never_lies(script: list[tuple[str, int, object]], levels: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"

        async def run() -> list[tuple[int, int]]:
            store = Store(SqliteEngine(path))
            await store.open()
            try:
                await play(store, script, levels)
                return [(p.user_id, await store.ledger.balance(GROUP, p.user_id)) for p in PEOPLE]
            finally:
                await store.close()

        balances = dict(asyncio.run(run()))
        sums, reward_rows = ledger_facts(path)

    for user_id, total, _ in sums:
        assert balances.get(user_id, 0) == total, "a balance is the sum of its entries"
    for _, amount, status, referrer, user_id, level, reversals in reward_rows:
        assert amount > 0 and 1 <= level <= levels
        assert reversals <= 1, "a reward is reversed at most once"
        if status == "cancelled":
            assert reversals == 1, "a cancelled order's reward is reversed"
        else:
            assert status == "confirmed" and reversals == 0
        if level == 1:
            assert user_id == referrer and user_id is not None


def test_card_payloads_are_signed_and_bare_numbers_open_nothing() -> None:
    links, other = Links(b"token"), Links(b"another token")
    assert links.parse(links.deal(12)) == Payload(kind="deal", deal_id=12)
    assert links.parse(links.invite_request(12)) == Payload(kind="invite", deal_id=12)
    assert links.parse("d12") == links.parse("i12") == Payload(kind="unsigned", deal_id=12)
    signature = links.deal(12).split("_")[1]
    for forged in (other.deal(12), f"d13_{signature}", f"i12_{signature}", "d12_", "d012_x"):
        assert links.parse(forged) is None, forged
    assert len(links.deal(10**14)) < 64
    key = links.card_key(2001, 12)
    assert 0 < key < 10**15 and key != links.card_key(2002, 12) != links.card_key(2001, 13)
