"""Stories where two counters or two rows must move together, on each engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import UserError
from bot.core.forms import DealForm, OptionForm
from bot.core.models import Member
from storage.store import Store

NOW = 1_800_000_000
CHAT = -100
LEADER = Member(user_id=1, first_name="Lena")


def member(n: int) -> Member:
    return Member(user_id=1000 + n, first_name=f"M{n}")


async def boxes(store: Store, stock: int, small: int, big: int) -> tuple[int, int, int]:
    """A deal of `stock` units in two options: (deal id, small's id, big's id)."""
    form = DealForm(
        title="Mangoes",
        price=1250,
        min_members=3,
        deadline=datetime.fromtimestamp(NOW, UTC) + timedelta(hours=2),
        stock=stock,
        options=(OptionForm("Small", 1250, small), OptionForm("Big", 2200, big)),
    )
    deal = await store.deals.create_deal(
        chat_id=CHAT, leader=LEADER, form=form, photo_file_id=None, currency="CNY", now=NOW
    )
    view = await store.deals.deal_view(deal.id)
    assert view is not None
    return deal.id, view.options[0].id, view.options[1].id


async def counts(store: Store, deal_id: int) -> tuple[int, list[int], int]:
    """(deal's taken, each option's taken, live units ordered or held by an offer)."""
    deal = await store.deals.get_deal(deal_id)
    assert deal is not None
    options = await store.engine.reader.all(
        "SELECT taken FROM deal_options WHERE deal_id = ? ORDER BY position", deal_id
    )
    live = await store.engine.reader.one(
        "SELECT (SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE deal_id = ?"
        " AND status <> 'cancelled') + (SELECT COUNT(*) FROM waitlist WHERE deal_id = ?"
        " AND status = 'offered')",
        deal_id,
        deal_id,
    )
    assert live is not None
    return deal.taken, [int(row[0]) for row in options], int(live[0])


async def test_a_unit_freed_while_the_first_in_line_waits_for_a_full_option_stays_free(
    store: Store,
) -> None:
    deal_id, small, big = await boxes(store, stock=3, small=1, big=2)
    await store.rounds.join_round(deal_id, member(1), NOW, option_id=small)
    await store.rounds.join_round(deal_id, member(2), NOW, option_id=big)
    assert await store.waitlist.wait_for_unit(deal_id, small, member(3).user_id, NOW)
    await store.waitlist.wait_for_unit(deal_id, big, member(4).user_id, NOW)

    left = await store.rounds.leave_round(deal_id, member(2).user_id, NOW)

    # Small is still full, so its waiter gets nothing; Big's waiter is offered the unit.
    assert [offer.user_id for offer in left.offers] == [member(4).user_id]
    assert await counts(store, deal_id) == (2, [1, 1], 2)


async def test_restocking_the_deal_while_the_first_in_line_waits_for_a_full_option(
    store: Store,
) -> None:
    deal_id, small, big = await boxes(store, stock=3, small=1, big=5)
    await store.rounds.join_round(deal_id, member(1), NOW, option_id=small)
    await store.rounds.join_round(deal_id, member(2), NOW, option_id=big)
    await store.waitlist.wait_for_unit(deal_id, small, member(3).user_id, NOW)

    assert await store.waitlist.restock(deal_id, 1, None, NOW) == []  # Small is still full

    assert await counts(store, deal_id) == (2, [1, 1], 2)


async def test_payouts_at_once_never_overdraw_the_balance(store: Store) -> None:
    who = member(1).user_id
    await store.engine.reader.one("SELECT 1")  # the reader is up before the race
    async with store.engine.transaction() as db:
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, created_at)"
            " VALUES (?, ?, 'reward', 1000, 'CNY', ?)",
            (CHAT, who, NOW),
        )

    results = await asyncio.gather(
        *(store.ledger.payout(CHAT, who, 600, "CNY", LEADER.user_id, NOW) for _ in range(8)),
        return_exceptions=True,
    )

    assert [r for r in results if not isinstance(r, UserError)] == [400]
    assert await store.ledger.balance(CHAT, who) == 400


NEW_CHAT = -1001234567890


async def tables_naming(store: Store, chat_id: int) -> dict[str, int]:
    """Every table with a chat_id column (read from the schema): rows naming this chat."""
    if store.engine.dialect == "postgres":
        sql = (
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'chat_id'"
            " AND table_schema = current_schema()"
        )
    else:
        sql = (
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p"
            " WHERE m.type = 'table' AND p.name = 'chat_id'"
        )
    found = {}
    for (table,) in await store.engine.reader.all(sql):
        row = await store.engine.reader.one(
            f"SELECT COUNT(*) FROM {table} WHERE chat_id = ?", chat_id
        )
        assert row is not None
        found[str(table)] = int(row[0])
    return found


async def a_busy_group(store: Store) -> int:
    """A group with a row in every table that names it; its deal's id."""
    await store.groups.set_pickup_points(CHAT, ["Clubhouse"])
    await store.groups.set_group_leader(CHAT, member(9), True, LEADER.user_id, NOW)
    form = DealForm(
        title="Figs",
        price=200,
        min_members=2,
        deadline=datetime.fromtimestamp(NOW, UTC) + timedelta(hours=2),
        pickups=("Clubhouse",),
    )
    deal = await store.deals.create_deal(
        chat_id=CHAT, leader=LEADER, form=form, photo_file_id=None, currency="CNY", now=NOW
    )
    await store.ledger.attribute(CHAT, member(1).user_id, member(2).user_id, deal.id, NOW)
    await store.rounds.join_round(deal.id, member(1), NOW)
    await store.orders.record_payment_reminder(CHAT, member(1).user_id, "2027-01-15", NOW)
    await store.ledger.record_group_invite(CHAT, 2, 3, NOW)
    async with store.engine.transaction() as db:
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, created_at)"
            " VALUES (?, ?, 'reward', 50, 'CNY', ?)",
            (CHAT, member(2).user_id, NOW),
        )
    assert all(await tables_naming(store, CHAT)), "every table holds a row of the group"
    return deal.id


async def test_a_group_with_leaders_pickup_points_and_reminders_moves_to_its_supergroup(
    store: Store,
) -> None:
    deal_id = await a_busy_group(store)
    before = await tables_naming(store, CHAT)

    moved = await store.groups.move_group(CHAT, NEW_CHAT)

    assert [deal.id for deal in moved] == [deal_id]
    assert not any((await tables_naming(store, CHAT)).values())
    assert await tables_naming(store, NEW_CHAT) == before
    assert await store.groups.is_group_leader(NEW_CHAT, member(9).user_id)
    assert [p.name for p in await store.groups.pickup_points(NEW_CHAT)] == ["Clubhouse"]
    with pytest.raises(Exception, match="append-only"):  # the amounts stay as written
        async with store.engine.transaction() as db:
            await db.execute("UPDATE ledger SET amount = 0")


async def test_the_pin_setting_moves_and_the_cards_are_pinned_anew(store: Store) -> None:
    deal_id = await a_busy_group(store)
    await store.groups.update_group(CHAT, pin=1, pin_warned=1)
    await store.deals.set_card(deal_id, 55)
    await store.deals.set_pinned(deal_id)

    await store.groups.move_group(CHAT, NEW_CHAT)

    group = await store.groups.get_group(NEW_CHAT)
    assert group is not None and group.pin and group.pin_warned
    assert not await store.deals.take_pin(deal_id), "the old group's pin is gone with it"


async def test_the_payment_settings_move_with_the_group(store: Store) -> None:
    await a_busy_group(store)
    await store.groups.update_group(CHAT, pay="invoice", pay_note="Bank 6222", pay_qr="QR1")
    await store.groups.move_group(CHAT, NEW_CHAT)
    group = await store.groups.get_group(NEW_CHAT)
    assert group is not None
    assert (group.pay, group.pay_note, group.pay_qr) == ("invoice", "Bank 6222", "QR1")


async def test_a_supergroup_the_bot_already_saw_takes_the_group_over(store: Store) -> None:
    deal_id = await a_busy_group(store)
    await store.groups.ensure_group(NEW_CHAT, "Group", tz="UTC", currency="CNY", lang="en", now=NOW)
    await store.groups.set_pickup_points(NEW_CHAT, ["Clubhouse"])
    await store.groups.set_group_leader(NEW_CHAT, member(9), True, LEADER.user_id, NOW)
    await store.orders.record_payment_reminder(NEW_CHAT, member(1).user_id, "2027-01-15", NOW)

    await store.groups.move_group(CHAT, NEW_CHAT)

    assert not any((await tables_naming(store, CHAT)).values())
    assert [p.name for p in await store.groups.pickup_points(NEW_CHAT)] == ["Clubhouse"]
    view = await store.deals.deal_view(deal_id)
    assert view is not None and view.deal.chat_id == NEW_CHAT
    (order,) = await store.orders.orders_of_deal(deal_id)
    assert order.pickup == "Clubhouse"


async def test_the_currency_stays_while_members_have_balances(store: Store) -> None:
    async with store.engine.transaction() as db:
        await db.execute(
            "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, created_at)"
            " VALUES (?, ?, 'reward', 50, 'CNY', ?)",
            (CHAT, member(1).user_id, NOW),
        )

    with pytest.raises(UserError) as refused:
        await store.groups.update_group(CHAT, currency="USD")

    assert refused.value.context["reason"] == "balances"
    group = await store.groups.get_group(CHAT)
    assert group is not None and group.currency == "CNY"
    await store.ledger.payout(CHAT, member(1).user_id, 50, "CNY", LEADER.user_id, NOW)
    assert (await store.groups.update_group(CHAT, currency="USD")).currency == "USD"


async def test_invite_links_opened_at_once_never_make_a_cycle_or_crash(store: Store) -> None:
    deal_id, _, _ = await boxes(store, stock=10, small=5, big=5)
    for n in range(0, 40, 4):
        a, b, c = member(n).user_id, member(n + 1).user_id, member(n + 2).user_id
        verdicts = await asyncio.gather(
            store.ledger.attribute(CHAT, a, b, deal_id, NOW),  # b brought a …
            store.ledger.attribute(CHAT, b, a, deal_id, NOW),  # … and a brought b
            store.ledger.attribute(CHAT, c, a, deal_id, NOW),  # c opened two links at once
            store.ledger.attribute(CHAT, c, b, deal_id, NOW),
        )
        assert [v.value for v in verdicts].count("attributed") == 2, verdicts
