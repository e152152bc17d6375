"""The payment window's rules (bot.core.paywindow, /settings paywithin) and its store: a
reminder and a release happen once, however many sweeps race for them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.core.forms import DealForm
from bot.core.models import Group, Member, OrderStatus
from bot.core.paywindow import (
    MAX_WINDOW,
    MIN_WINDOW,
    REMIND_AT_LEAST,
    Awaiting,
    Step,
    parse_window,
    reminder_lead,
)
from bot.core.settings import canonical_key, parse_setting
from storage.store import Store
from tests.conftest import STORE_CHAT, STORE_NOW

HOUR = 3600
DAY = 86400
GROUP = Group(-1, "G", "en", "UTC", "CNY")


@pytest.mark.parametrize(
    ("typed", "seconds"),
    [
        ("24h", DAY),
        ("90m", 90 * 60),
        ("2d", 2 * DAY),
        ("1d12h", DAY + 12 * HOUR),
        ("1d 12h", DAY + 12 * HOUR),
        ("1h30m", 90 * 60),
        ("24 hours", DAY),
        ("24小时", DAY),
        ("2天", 2 * DAY),
        ("36ч", 36 * HOUR),
        ("２４h", DAY),
        ("1h", MIN_WINDOW),
        ("30d", MAX_WINDOW),
        ("0", 0),
    ],
)
def test_a_window_is_read_as_the_deal_form_reads_durations(typed: str, seconds: int) -> None:
    assert parse_window(typed) == seconds


@pytest.mark.parametrize(
    "typed", ["", "soon", "59m", "5m", "31d", "720h1m", "1.5h", "-1h", "h", "24", "1d12"]
)
def test_a_window_too_short_too_long_or_no_duration_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_window(typed)


@pytest.mark.parametrize(
    ("window", "lead"),
    [
        (DAY, 6 * HOUR),  # a quarter
        (2 * DAY, 12 * HOUR),
        (8 * HOUR, 2 * HOUR),
        (2 * HOUR, HOUR),  # at least an hour
        (90 * 60, 45 * 60),  # but never in the first half
        (HOUR, 30 * 60),
    ],
)
def test_the_reminder_comes_when_a_quarter_of_the_window_is_left(window: int, lead: int) -> None:
    assert reminder_lead(window) == lead


@given(st.integers(MIN_WINDOW, MAX_WINDOW))
def test_the_reminder_falls_in_the_second_half_and_an_hour_before_where_it_can(
    window: int,
) -> None:
    lead = reminder_lead(window)
    assert 0 < lead <= window // 2
    assert lead >= min(REMIND_AT_LEAST, window // 2)
    assert lead >= window // 4


def awaiting(confirmed_at: int = 1000, window: int = DAY, **changes: object) -> Awaiting:
    values: dict[str, object] = {
        "order_id": 1,
        "deal_id": 2,
        "chat_id": -3,
        "confirmed_at": confirmed_at,
        "window": window,
        "window_set_at": 0,
        "reminded": False,
    }
    return Awaiting(**(values | changes))  # type: ignore[arg-type]


def test_an_order_waits_is_reminded_once_and_is_released_at_the_end() -> None:
    order = awaiting()
    assert order.due_at == 1000 + DAY and order.remind_at == 1000 + 18 * HOUR
    assert order.step(1000) is Step.WAIT
    assert order.step(order.remind_at - 1) is Step.WAIT
    assert order.step(order.remind_at) is Step.REMIND
    assert awaiting(reminded=True).step(order.remind_at) is Step.WAIT
    assert order.step(order.due_at - 1) is Step.REMIND
    assert order.step(order.due_at) is Step.RELEASE
    # A bot down through the reminder's time releases at the end all the same.
    assert awaiting(reminded=False).step(order.due_at + DAY) is Step.RELEASE


def test_a_window_set_after_the_order_counts_from_when_it_was_set() -> None:
    order = awaiting(confirmed_at=1000, window=DAY, window_set_at=1000 + 3 * DAY)
    assert order.due_at == 1000 + 4 * DAY
    assert order.step(1000 + 3 * DAY) is Step.WAIT
    assert awaiting(confirmed_at=5000, window_set_at=1000).due_at == 5000 + DAY


@pytest.mark.parametrize("word", ["off", "OFF", "关", "關閉", "выкл", "0"])
def test_paywithin_off_in_every_language(word: str) -> None:
    assert parse_setting("paywithin", word, GROUP) == {"pay_within": 0}


def test_paywithin_is_a_setting_by_its_names() -> None:
    for typed in ("paywithin", "PayWithin", "pay_within", "付款期限", "付款时限", "付款時限"):
        assert canonical_key(typed) == "paywithin"
    assert canonical_key("срок_оплаты") == "paywithin"
    assert parse_setting("paywithin", "1d 12h", GROUP) == {"pay_within": DAY + 12 * HOUR}
    with pytest.raises(UserError) as refused:
        parse_setting("paywithin", "5m", GROUP)
    assert refused.value.template == "settings_bad_value"
    assert refused.value.context == {"key": "paywithin", "value": "5m"}


# -- the store ----------------------------------------------------------------------------


async def formed_round(
    store: Store, members: int = 2, referred: bool = False
) -> tuple[int, list[int]]:
    """A deal whose first round formed at STORE_NOW with `members` orders of one unit,
    in the store's group with a one-hour window: (deal id, order ids). `referred`: the
    first member was brought by member 999, who earns 10% of their orders."""
    if referred:
        await store.groups.update_group(STORE_CHAT, reward_kind="percent", reward_value=1000)
        async with store.engine.transaction() as db:
            await db.execute(
                "INSERT INTO referrals (chat_id, referee_id, referrer_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (STORE_CHAT, 1000, 999, STORE_NOW),
            )
    form = DealForm(
        title="Mangoes",
        price=1250,
        min_members=members,
        deadline=datetime.fromtimestamp(STORE_NOW, UTC) + timedelta(days=1),
        stock=members + 1,
    )
    deal = await store.deals.create_deal(
        chat_id=STORE_CHAT,
        leader=Member(1, "Lena"),
        form=form,
        photo_file_id=None,
        currency="CNY",
        now=STORE_NOW,
    )
    for n in range(members):
        await store.rounds.join_round(deal.id, Member(1000 + n, f"M{n}"), STORE_NOW)
    await store.groups.update_group(STORE_CHAT, pay_within=HOUR, pay_within_at=STORE_NOW)
    waiting = await store.paywindow.awaiting()
    assert [w.confirmed_at for w in waiting] == [STORE_NOW] * members
    return deal.id, [w.order_id for w in waiting]


async def test_racing_sweeps_remind_once(store: Store) -> None:
    _, (first, second) = await formed_round(store)
    results = await asyncio.gather(
        *(store.paywindow.mark_reminded(first, STORE_NOW + 1800) for _ in range(6))
    )
    assert sorted(results) == [False] * 5 + [True]
    assert [w.reminded for w in await store.paywindow.awaiting()] == [True, False]
    await store.orders.mark_orders([second], "paid", True, 1, STORE_NOW)
    assert not await store.paywindow.mark_reminded(second, STORE_NOW + 1800), "paid: no reminder"
    assert [w.order_id for w in await store.paywindow.awaiting()] == [first]


async def test_racing_sweeps_release_once_and_only_when_due(store: Store) -> None:
    deal_id, order_ids = await formed_round(store, members=3, referred=True)
    assert await store.ledger.balance(STORE_CHAT, 999) == 125
    await store.orders.claim_paid(order_ids[2], 1002, STORE_NOW)  # "I've paid": held
    early = await store.paywindow.release(deal_id, order_ids, STORE_NOW + HOUR - 1)
    assert early is not None and early.rows == [], "not before the end of the window"

    results = await asyncio.gather(
        *(store.paywindow.release(deal_id, order_ids, STORE_NOW + HOUR) for _ in range(6))
    )
    released = [row.order.id for result in results if result for row in result.rows]
    assert sorted(released) == order_ids[:2], "each once; the claimed order stays"
    rows = await store.engine.reader.all(
        "SELECT status, cancel_reason, released_at FROM orders ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [
        ("cancelled", "unpaid", STORE_NOW + HOUR),
        ("cancelled", "unpaid", STORE_NOW + HOUR),
        ("confirmed", None, None),
    ]
    deal = await store.deals.get_deal(deal_id)
    assert deal is not None and deal.taken == 1, "the units went back"
    assert await store.ledger.balance(STORE_CHAT, 999) == 0, "the referral reward reversed"
    day = await store.paywindow.released_between(STORE_CHAT, STORE_NOW, STORE_NOW + DAY)
    assert [row.order.id for row in day] == order_ids[:2]
    assert all(row.order.cancel_reason == "unpaid" for row in day)


async def test_turning_the_window_off_stops_a_release_already_read(store: Store) -> None:
    deal_id, order_ids = await formed_round(store)
    await store.groups.update_group(STORE_CHAT, pay_within=0)
    assert await store.paywindow.awaiting() == []
    result = await store.paywindow.release(deal_id, order_ids, STORE_NOW + DAY)
    assert result is not None and result.rows == []


async def test_an_invoice_paid_after_the_release_is_owed_back(store: Store) -> None:
    """Pre-checkout passed, then the window released the order, then Telegram took the
    money: the order is recorded paid and owed back, not lost."""
    deal_id, (first, _) = await formed_round(store)
    assert (await store.paywindow.release(deal_id, [first], STORE_NOW + HOUR)).rows
    assert await store.orders.record_invoice_payment(first, "tg_1", "pv_1", STORE_NOW + HOUR + 5)
    owed = await store.orders.refunds_owed(STORE_CHAT)
    assert [row.order.id for row in owed] == [first]
    assert owed[0].order.status is OrderStatus.CANCELLED and owed[0].order.paid_at


async def test_a_claim_confirmed_after_the_deal_was_cancelled_is_owed_back(store: Store) -> None:
    deal_id, (first, second) = await formed_round(store)
    await store.orders.claim_paid(first, 1000, STORE_NOW + 10)
    cancelled = await store.rounds.cancel_deal(deal_id, STORE_NOW + 20)
    assert cancelled is not None and cancelled.refunds_due == 0, "a claim is not a payment"
    assert await store.orders.settle_claim(first, True, 1, STORE_NOW + 30)
    owed = await store.orders.refunds_owed(STORE_CHAT)
    assert [row.order.id for row in owed] == [first], "confirmed paid, so owed back"
    assert not await store.orders.settle_claim(second, True, 1, STORE_NOW + 40), "no claim"
