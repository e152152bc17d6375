"""The upgrade that lets a deal be shown in several groups (migration 0019) keeps every
ledger entry, and the ledger stays append-only; the rules of `groups:` and `stock:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.links import Links
from bot.core.spread import PER_GROUP, SHARED, group_names, parse_percent, split_stock
from storage import engines
from tests.conftest import STORES, store_before

NOW = 1_764_000_000
CHAT = -1001


@pytest.mark.parametrize("engine", STORES)
async def test_the_upgrade_keeps_the_ledger_and_its_rules(
    engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with store_before(17, engine, tmp_path, monkeypatch) as store:
        async with store.engine.transaction() as db:
            await db.execute(
                "INSERT INTO groups (chat_id, title, created_at) VALUES (?, 'G', ?)", (CHAT, NOW)
            )
            for kind, amount, reverses in (
                ("reward", 125, None),
                ("reversal", -125, 1),
                ("reward", 40, None),
                ("payout", -40, None),
            ):
                await db.execute(
                    "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, level,"
                    " reverses_id, created_at) VALUES (?, 7, ?, ?, 'CNY', ?, ?, ?)",
                    (CHAT, kind, amount, 1 if kind == "reward" else None, reverses, NOW),
                )
        before = await store.engine.reader.all("SELECT * FROM ledger ORDER BY id")

        assert await store.migrate() == engines.migration_files(store.engine.dialect)[-1][0]

        after = await store.engine.reader.all("SELECT * FROM ledger ORDER BY id")
        assert [tuple(row) for row in after] == [tuple(row) for row in before]
        with pytest.raises(Exception, match="append-only"):
            async with store.engine.transaction() as db:
                await db.execute("UPDATE ledger SET amount = 0 WHERE id = 1")
        with pytest.raises(Exception, match="append-only"):
            async with store.engine.transaction() as db:
                await db.execute("DELETE FROM ledger WHERE id = 1")
        async with store.engine.transaction() as db:  # the new kind is taken, new ids go on
            await db.execute(
                "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, created_at)"
                " VALUES (?, 8, 'commission', 10, 'CNY', ?)",
                (CHAT, NOW),
            )
        rows = await store.engine.reader.all("SELECT id, kind FROM ledger WHERE user_id = 8")
        assert [tuple(row) for row in rows] == [(5, "commission")]
        with pytest.raises(Exception):  # noqa: B017 - the engines raise their own kinds
            async with store.engine.transaction() as db:
                await db.execute(
                    "INSERT INTO ledger (chat_id, user_id, kind, amount, currency, created_at)"
                    " VALUES (?, 8, 'bonus', 10, 'CNY', ?)",
                    (CHAT, NOW),
                )


def test_stock_says_how_it_is_shared() -> None:
    assert split_stock(None) == (None, SHARED)
    assert split_stock("40") == ("40", SHARED)
    assert split_stock("40 shared") == ("40", SHARED)
    assert split_stock("40  Per-Group") == ("40", PER_GROUP)
    assert split_stock("per group") == (None, PER_GROUP)
    assert split_stock("3 分群") == ("3", PER_GROUP)
    assert split_stock("30 共享") == ("30", SHARED)
    assert split_stock("10 по группам") == ("10", PER_GROUP)
    assert split_stock("40 bananas") == ("40 bananas", SHARED), "the count check says it is wrong"


def test_group_names_are_split_and_kept_once() -> None:
    assert group_names("Oak Street, pine  court ,Oak street") == ("Oak Street", "pine court")
    assert group_names("橡树、枫叶；松树") == ("橡树", "枫叶", "松树")
    assert group_names(" , ") == ()


@pytest.mark.parametrize(
    ("typed", "points"),
    [("10", 1000), ("10%", 1000), ("7.5%", 750), ("7,5", 750), ("0.01", 1), ("50％", 5000)],
)
def test_a_commission_is_read_in_basis_points(typed: str, points: int) -> None:
    assert parse_percent(typed) == points


@pytest.mark.parametrize("typed", ["0", "0%", "51%", "-5", "ten", "1.234", "", "100"])
def test_a_commission_out_of_bounds_is_refused(typed: str) -> None:
    assert parse_percent(typed) is None


def test_a_helper_link_is_signed_over_the_deal_and_the_commission() -> None:
    links = Links(b"123:secret")
    payload = links.helper(98765, 1250)
    assert len(payload) <= 64 and payload.startswith("h98765_1250_")
    parsed = links.parse(payload)
    assert parsed is not None and (parsed.kind, parsed.deal_id, parsed.commission) == (
        "helper",
        98765,
        1250,
    )
    assert links.parse(payload.replace("_1250_", "_5000_")) is None, "a raised commission"
    assert links.parse(payload.replace("h98765", "h98766")) is None, "another deal"
    assert Links(b"other").parse(payload) is None, "another bot's link"
