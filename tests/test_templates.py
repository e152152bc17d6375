"""Every message renders in every language with sample data as valid Telegram HTML.

The samples are realistic objects from ``bot.core.models`` rendered through the real ``Texts``. Each
template renders once per context that ``_variants()`` lists for it, each laid over the shared
``_base()`` context; a template without an entry renders with the base context alone. A new
template that needs a value the samples lack fails with StrictUndefined's message naming the
value: add an entry for the template to ``_variants()``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from bot.core import forms
from bot.core import settings as group_settings
from bot.core.forms import KEY_PROBLEMS, PROBLEMS, FormError, parse_deal_form
from bot.core.languages import LANGUAGES
from bot.core.models import (
    Balance,
    Deal,
    DealOption,
    DealStatus,
    DealView,
    Group,
    LedgerEntry,
    Line,
    MarkBatch,
    Member,
    Order,
    OrderRow,
    OrderStatus,
    PickupPoint,
    Round,
    RoundStatus,
    Standing,
    UndoneBatch,
    Via,
)
from bot.core.summary import DealDay, GroupDay, PickupEntry, PickupPlace
from bot.texts import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    PLAIN_PREFIXES,
    TEMPLATES,
    Texts,
    split_duration,
    utf16_len,
)
from tests.fakeapi import HtmlError, parse_html

# Templates that only set values ({% set %}), read with Texts.label or Texts.catalogue.
DATA_TEMPLATES = ("labels", "commands")
TAP_LIMIT = 200  # Telegram's limit for the text of a callback query answer

NOW = int(datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp())
HOUR = 3600

# User text that HTML must show literally: tags, entities and Markdown marks.
NASTY = '<b>Tom & Jerry</b> *bold* _it_ "q" &amp;'


def _names(folder: Path) -> set[str]:
    return {path.name.removesuffix(".j2") for path in folder.glob("[!_]*.j2")}


ALL_TEMPLATES = sorted(_names(TEMPLATES))
RENDERED = [name for name in ALL_TEMPLATES if name not in DATA_TEMPLATES]


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts()


def _is_plain(name: str) -> bool:
    return name.startswith(PLAIN_PREFIXES)


# -- sample data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Sample objects; every piece of user text goes through `text`."""

    text: Callable[[str], str]

    def member(self, user_id: int, name: str, username: str | None = None) -> Member:
        return Member(user_id, self.text(name), username=username)

    @property
    def group(self) -> Group:
        return Group(
            -1001234567890, self.text("Sunny Court 阳光小区"), "en", "Asia/Shanghai", "CNY"
        )

    @property
    def members(self) -> list[Member]:
        return [
            self.member(2001, "Ann Li", "ann"),
            self.member(2002, "王小明"),
            self.member(2003, "Bo", "bo_k"),
        ]

    def deal(self, **changes: Any) -> Deal:
        values: dict[str, Any] = {
            "id": 12,
            "chat_id": -1001234567890,
            "leader_id": 1001,
            "title": self.text("Alphonso mangoes, 5 kg box"),
            "description": self.text("Sweet, from Ratnagiri.\nAbout 12 mangoes a box."),
            "photo_file_id": None,
            "price": 1250,
            "currency": "CNY",
            "min_members": 10,
            "deadline": NOW + 2 * 86400 + 3 * HOUR + 15 * 60,
            "stock": 50,
            "member_limit": 2,
            "note": self.text("Pickup Saturday 10:00-12:00 at the clubhouse"),
            "mode": "rounds",
            "status": DealStatus.OPEN,
            "taken": 7,
            "card_message_id": 55,
            "created_at": NOW - 86400,
            "closed_at": None,
        }
        values.update(changes)
        return Deal(**values)

    def round(self, number: int = 2, status: RoundStatus = RoundStatus.OPEN) -> Round:
        return Round(30 + number, 12, number, status, NOW - HOUR, None, None)

    def lines(self, options: bool = False) -> list[Line]:
        names = [self.text("5kg box"), self.text("10kg box"), None] if options else [None] * 3
        return [
            Line(member, quantity, option=option)
            for member, quantity, option in zip(self.members, (2, 1, 3), names, strict=True)
        ]

    def options(self) -> list[DealOption]:
        return [
            DealOption(1, 12, 1, self.text("5kg box"), 1250, 30, 4),
            DealOption(2, 12, 2, self.text("10kg box"), 2200, None, 1),
        ]

    def pickups(self) -> list[PickupPoint]:
        return [
            PickupPoint(1, -1001234567890, self.text("Clubhouse")),
            PickupPoint(2, -1001234567890, self.text("North gate")),
        ]

    def view(self, deal: Deal | None = None, **changes: Any) -> DealView:
        values: dict[str, Any] = {
            "deal": deal or self.deal(),
            "group": self.group,
            "open_round": self.round(),
            "lines": self.lines(),
            "rounds_formed": 1,
            "last_round": self.round(1, RoundStatus.FORMED),
        }
        values.update(changes)
        return DealView(**values)

    def closed_views(self) -> list[DealView]:
        """Closed deals as their final cards show them: sold out with options, rounds that
        formed and a last that failed (or was called off), a tipping deal that failed, and
        each in privacy mode."""
        closed = self.deal(status=DealStatus.CLOSED, closed_at=NOW, taken=50)
        ann, wang, bo = self.members
        lines = [
            Line(ann, 2, option=self.text("5kg box"), round_number=1),
            Line(wang, 1, option=self.text("10kg box"), round_number=1),
            Line(bo, 3, option=self.text("5kg box"), round_number=2),
            Line(ann, 1, option=self.text("10kg box"), round_number=3),
        ]

        def ended(number: int, status: RoundStatus, joined: int) -> Round:
            return replace(self.round(number, status), closed_at=NOW, joined=joined)

        views = [
            self.view(
                closed,
                open_round=None,
                lines=lines,
                rounds_formed=3,
                last_round=ended(3, RoundStatus.FORMED, 1),
                options=self.options(),
            ),
            self.view(
                self.deal(status=DealStatus.CLOSED, taken=4),
                open_round=None,
                lines=lines[:2],
                rounds_formed=2,
                last_round=ended(3, RoundStatus.FAILED, 4),
            ),
            self.view(
                self.deal(status=DealStatus.CLOSED, taken=2, min_members=3),
                open_round=None,
                lines=[replace(line, round_number=1) for line in lines[:2]],
                rounds_formed=1,
                last_round=ended(2, RoundStatus.FAILED, 5),
            ),
            self.view(
                self.deal(status=DealStatus.CLOSED, mode="tipping", taken=0),
                open_round=None,
                lines=[],
                rounds_formed=0,
                last_round=ended(1, RoundStatus.FAILED, 3),
            ),
            self.view(
                self.deal(status=DealStatus.CLOSED, taken=0, min_members=2),
                open_round=None,
                lines=[],
                rounds_formed=0,
                last_round=ended(1, RoundStatus.FAILED, 2),
            ),
        ]
        counts = replace(self.group, privacy="counts")
        return views + [replace(view, group=counts) for view in views]

    def order(self, order_id: int, quantity: int, **changes: Any) -> Order:
        values: dict[str, Any] = {
            "id": order_id,
            "deal_id": 12,
            "round_id": 31,
            "user_id": 2001,
            "quantity": quantity,
            "unit_price": 1250,
            "status": OrderStatus.CONFIRMED,
            "created_at": NOW - HOUR,
        }
        values.update(changes)
        return Order(**values)

    def rows(self) -> list[OrderRow]:
        ann, wang, bo = self.members
        deal = self.deal()
        return [
            OrderRow(self.order(17, 2, paid_at=NOW, code="K7Q2"), ann, deal, 1),
            OrderRow(
                self.order(18, 1, collected_at=NOW, paid_claimed_at=NOW),
                wang,
                deal,
                1,
                group_title=self.text("Sunny Court 阳光小区"),
                option=self.text("5kg box"),
                pickup=self.text("Clubhouse"),
            ),
            OrderRow(self.order(19, 3, status=OrderStatus.PENDING), bo, deal, 2),
            OrderRow(self.order(20, 1, status=OrderStatus.CANCELLED), bo, deal, 2),
            OrderRow(
                self.order(21, 2, paid_at=NOW, collected_at=NOW),
                ann,
                self.deal(id=13, mode="tipping"),
                1,
            ),
        ]

    def day(self) -> GroupDay:
        rows = [row for row in self.rows() if row.order.status is OrderStatus.CONFIRMED]
        deals = [
            DealDay(self.deal(), [1, 2], 1, rows[:2]),
            DealDay(self.deal(id=13, mode="tipping"), [], 1, []),
            DealDay(self.deal(id=14, mode="tipping"), [1], 0, rows[2:]),
        ]
        ann, wang, _ = self.members
        pickup = [
            PickupPlace(self.text("Clubhouse"), [PickupEntry(ann, [rows[0], rows[2]])]),
            PickupPlace(None, [PickupEntry(wang, [rows[1]])]),
        ]
        return GroupDay(self.group, date(2026, 11, 22), deals, pickup, [(ann, 125), (wang, 30)])

    def released_day(self) -> GroupDay:
        """A day on which orders were released unpaid: beside a round that formed, and in a
        deal where nothing else happened."""
        rows = [row for row in self.rows() if row.order.status is OrderStatus.CONFIRMED]
        released = [
            replace(row, order=replace(row.order, status=OrderStatus.CANCELLED)) for row in rows[:2]
        ]
        other = self.deal(id=15)
        deals = [
            DealDay(self.deal(), [1], 0, rows[:1], released[1:]),
            DealDay(other, [], 0, [], [replace(released[0], deal=other)]),
        ]
        return GroupDay(self.group, date(2026, 11, 23), deals, [])

    def ledger(self) -> list[LedgerEntry]:
        group = self.text("Sunny Court 阳光小区")
        return [
            LedgerEntry(1, -1001, 2001, "reward", 125, "CNY", 17, 1, NOW, group, "Asia/Shanghai"),
            LedgerEntry(2, -1001, 2001, "reward", 30, "CNY", 18, 2, NOW, group, "Asia/Shanghai"),
            LedgerEntry(3, -1001, 2001, "reversal", -30, "CNY", 18, 2, NOW, group, "UTC"),
            LedgerEntry(4, -1001, 2001, "payout", -100, "CNY", None, None, NOW, "", "UTC"),
            LedgerEntry(5, -1001, 2001, "commission", 250, "CNY", 19, None, NOW, group, "UTC"),
        ]

    def shared_day(self) -> GroupDay:
        """A deal sold in its own group, a further group and a helper leader's group."""
        rows = [row for row in self.rows() if row.order.status is OrderStatus.CONFIRMED][:3]
        further = Via(-1002, self.text("Oak Street"))
        helped = Via(-1003, self.text("Maple 枫叶"), helper_id=2002, commission=1000)
        rows = [
            rows[0],
            replace(rows[1], via=further),
            replace(rows[2], via=helped, credited=250),
        ]
        ann, wang, _ = self.members
        deals = [DealDay(self.deal(), [1], 0, rows)]
        return GroupDay(
            self.group, date(2026, 11, 24), deals, [], [(ann, 125)], commissions=[(wang, 250)]
        )


def _form_errors(text: Callable[[str], str]) -> list[dict[str, Any]]:
    """Every problem of every field, with the context FormError carries, for both currencies."""
    numbers: dict[tuple[str, str], dict[str, int]] = {
        ("form", "too_long"): {"max": forms.MAX_FORM},
        ("title", "too_long"): {"max": forms.MAX_TITLE},
        ("note", "too_long"): {"max": forms.MAX_NOTE},
        ("description", "too_long"): {"max": forms.MAX_DESCRIPTION},
        ("price", "too_large"): {"max": forms.MAX_PRICE_UNITS},
        ("min", "out_of_range"): dict(zip(("min", "max"), forms.MIN_RANGE, strict=True)),
        ("stock", "out_of_range"): dict(zip(("min", "max"), forms.STOCK_RANGE, strict=True)),
        ("limit", "out_of_range"): dict(zip(("min", "max"), forms.LIMIT_RANGE, strict=True)),
        ("stock", "below_min"): {"min": 10},
        ("deadline", "too_far"): {"max_days": forms.MAX_DAYS},
        ("start", "too_far"): {"max_days": forms.MAX_DAYS},
        ("options", "too_many"): {"max": forms.MAX_OPTIONS},
        ("pickup", "too_many"): {"max": forms.MAX_PICKUPS},
    }
    values = {
        "not_money": "twelve",
        "not_positive": "-5",
        "too_large": "99999999",
        "not_integer": "ten",
        "out_of_range": "0",
        "below_min": "5",
        "bad_mode": "fast",
        "bad_deadline": "next week",
        "bad_start": "next week",
        "after_deadline": "23:00",
        "in_past": "2020-01-01 10:00",
        "too_far": "200d",
        "bad_option": "5kg box",
        "duplicate_option": "5kg box",
    }
    cases = [(field, problem) for field, problems in PROBLEMS.items() for problem in problems]
    cases += [(key, problem) for key in ("price", "note") for problem in ("duplicate", "no_value")]
    cases += [(text("colour"), "unknown_field"), ("price", "a problem nobody wrote yet")]
    contexts = []
    for digits in (2, 0):
        for field, problem in cases:
            value = None if problem in ("missing", "empty") else values.get(problem, "x" * 30)
            value = None if value is None else text(value)
            error = FormError(field, problem, value, **numbers.get((field, problem), {}))
            contexts.append({**error.context, "digits": digits})
    return contexts


def _variants(w: World) -> dict[str, list[dict[str, Any]]]:
    """Per template, the contexts to render it with (each on top of the base context)."""
    deal, member, rows = w.deal(), w.members[0], w.rows()
    tipping = w.deal(mode="tipping", stock=None, member_limit=None, description=None, note=None)
    closed = w.deal(status=DealStatus.CLOSED, closed_at=NOW)
    preview = w.deal(starts_at=NOW + 25 * 60, taken=0)
    cancelled = w.deal(status=DealStatus.CANCELLED, closed_at=NOW)
    option = w.options()[0]
    many = [Line(w.member(3000 + i, f"Member {i}"), 1 + i % 3) for i in range(12)]
    many_members = [line.member for line in many]
    return {
        "button_collected": [{"row": row} for row in rows[:2]],
        "button_join_option": [{"option": option}],
        "button_notify_option": [{"option": option}],
        "button_paid": [{"row": row} for row in rows[:2]],
        "button_setting": [
            {"key": key, "value": value, "current": current}
            for key, value in group_settings.QUICK_FLAT
            for current in (False, True)
        ],
        "cancel_done": [{"count": 1}, {"count": 3}, {"count": 0}],
        "close_usage": [{"command": "close"}, {"command": "cancel"}],
        "code_not_found": [{"code": w.text("ZZ99")}],
        "deal_cancelled": [{"lines": []}, {"lines": w.lines()[:1]}, {"lines": w.lines()}],
        "deal_card": [
            {"view": w.view(), "lines": w.lines(), "hidden": 0},
            {"view": w.view(), "lines": w.lines()[:1], "hidden": 2},
            {"view": w.view(lines=many), "lines": many, "hidden": 0},
            {
                "view": w.view(w.deal(deadline=NOW + 5 * 60), options=w.options(), lines=[]),
                "lines": w.lines(options=True),
                "hidden": 0,
            },
            {
                "view": w.view(tipping, lines=many, rounds_formed=0, pickups=w.pickups()),
                "lines": many,
                "hidden": 0,
            },
            {
                "view": w.view(
                    w.deal(deadline=NOW + 3 * HOUR),
                    group=Group(-1001, w.text("Quiet"), "en", "UTC", "JPY", privacy="counts"),
                ),
                "lines": w.lines(),
                "hidden": 0,
            },
            {"view": w.view(open_round=None, lines=[]), "lines": [], "hidden": 0},
            {
                "view": w.view(preview, lines=[], rounds_formed=0),
                "lines": [],
                "hidden": 0,
            },
            {
                "view": w.view(w.deal(starts_at=NOW + 3 * 86400 + HOUR), rounds_formed=0),
                "lines": [],
                "hidden": 0,
            },
            {"view": w.view(closed, open_round=None, rounds_formed=2), "lines": [], "hidden": 0},
            {"view": w.view(closed, open_round=None, rounds_formed=0), "lines": [], "hidden": 0},
            {"view": w.view(cancelled, open_round=None), "lines": [], "hidden": 0},
            *(
                {"view": view, "lines": view.lines[:shown], "hidden": len(view.lines) - shown}
                for view in w.closed_views()
                for shown in (len(view.lines), 2)
            ),
        ],
        "deal_card_short": [
            {"view": w.view()},
            {"view": w.view(preview, lines=[])},
            {"view": w.view(tipping)},
            {"view": w.view(closed, open_round=None, rounds_formed=3)},
            {"view": w.view(cancelled, open_round=None)},
            *({"view": view} for view in w.closed_views()),
        ],
        "deal_form_error": _form_errors(w.text)
        + [{**context, "repost": 12} for context in _form_errors(w.text)[:3]],
        "deal_not_found": [{"deal_id": 404}],
        "deal_not_open": [{"deal": closed}, {"deal": cancelled}],
        "deal_open_now": [{"deal": preview}],
        "deals_past": [
            {"deals": [preview, deal, tipping, closed, cancelled]},
            {"deals": [w.deal(id=n, title=w.text("T" * 120)) for n in range(20)]},
            {"deals": []},
        ],
        "deal_unknown_pickup": [
            {"name": w.text("South gate"), "known": [p.name for p in w.pickups()]},
            {"name": w.text("South gate"), "known": []},
        ],
        "deal_usage": [{}, {"digits": 2}, {"digits": 0}],
        "pin_refused": [
            {"what": "pin", "title": w.text("Sunny Court")},
            {"what": "unpin", "title": ""},
        ],
        "deals_list": [
            {
                "deals": [
                    {"deal": deal, "link": "https://t.me/c/1234567890/55"},
                    {"deal": tipping, "link": None},
                    {"deal": preview, "link": None},
                ]
            },
            {"deals": []},
        ],
        "group_only": [{"command": "/deals"}],
        "help": [
            {"leader": leader, "private": private}
            for leader in (False, True)
            for private in (False, True)
        ],
        "invite_followed": [
            {"verdict": "attributed", "referrer": w.members[1]},
            {"verdict": "attributed", "referrer": None},
            {"verdict": "self", "referrer": member},
            {"verdict": "already", "referrer": w.members[1]},
        ],
        "invite_link": [{"link": "https://t.me/groupbuy_bot?start=r12_2001_abcdef"}],
        "invite_links": [
            {
                "links": [
                    {"deal": deal, "link": "https://t.me/groupbuy_bot?start=r12_2001_abcdef"},
                    {"deal": tipping, "link": "https://t.me/groupbuy_bot?start=r13_2001_012345"},
                ]
            }
        ],
        "mark_usage": [{"command": "paid"}, {"command": "collected"}],
        "marked_member": [
            {"mark": mark, "count": count} for mark in ("paid", "collected") for count in (1, 3)
        ],
        "unmarked_member": [
            {"undone": UndoneBatch(deal, member, mark, cleared, 3)}
            for mark in ("paid", "collected")
            for cleared in (1, 3)
        ],
        "mark_which_deal": [
            {"mark": "paid", "deals": 2, "more": 0},
            {"mark": "collected", "deals": 25, "more": 5, "member": w.members[1]},
        ],
        "button_mark_deal": [
            {"count": 2},
            {"count": 1, "deal": w.deal(title=w.text("Mangoes " * 20))},
        ],
        "mark_name_not_found": [
            {"who": w.text("Ann"), "command": command, "here": here}
            for command in ("paid", "collected")
            for here in (False, True)
        ],
        "mark_name_ambiguous": [
            {"who": w.text("Ann"), "members": w.members, "command": "paid"},
            {"who": w.text("Ann"), "members": many_members, "command": "collected"},
        ],
        "mark_nothing": [
            {"mark": mark, "here": here} for mark in ("paid", "collected") for here in (False, True)
        ],
        "mark_name_undo": [{"command": "paid", "who": w.text("Ann")}],
        "tap_marked_member": [
            {"batch": MarkBatch(deal, member, mark, ids, 5, 7)}
            for mark in ("paid", "collected")
            for ids in ((17,), (17, 18, 19))
        ],
        "tap_mark_nothing": [{"mark": "paid"}, {"mark": "collected"}],
        "tap_undone": [
            {"undone": UndoneBatch(deal, member, mark, cleared, 3)}
            for mark in ("paid", "collected")
            for cleared in (1, 2)
        ],
        "tap_undo_nothing": [{"undone": UndoneBatch(deal, member, "paid", 0, 2)}],
        "marked": [
            {"mark": mark, "undo": undo, "changed": changed, "total": 3}
            for mark in ("paid", "collected")
            for undo in (False, True)
            for changed in (0, 1, 3)
        ],
        "member_not_found": [{"who": w.text("@nobody")}],
        "member_orders_not_found": [{"deal_id": 12, "who": w.text("@ann")}],
        "order_cancelled": [
            {"quantity": 1, "reason": "failed"},
            {"quantity": 3, "reason": "cancelled"},
        ],
        "order_confirmed": [
            {"line": line, "quantity": line.quantity}
            for line in (
                Line(member, 2),
                Line(
                    member,
                    1,
                    option=option.name,
                    code="K7Q2",
                    amount=1250,
                    pickup=w.text("Clubhouse"),
                ),
                Line(member, 1, code="K7Q3"),
            )
        ]
        + [
            {
                "line": Line(member, 2, order_id=41, amount=2500),
                "quantity": 2,
                "pay": Group(-1, "x", "en", "UTC", "CNY", pay_note=w.text(note), pay_qr=qr),
            }
            for note, qr in (("Alipay 138 0000 0000", "AgAD-qr"), ("Bank: 6222 …", None))
        ]
        + [
            {
                "line": Line(member, 1, order_id=42),
                "quantity": 1,
                "pay_by": NOW + 86400,
                "tz": "UTC",
            }
        ],
        "pay_qr_caption": [{"line": Line(member, 2, order_id=41, amount=2500)}],
        "settings_pay_note_usage": [{"max": 300}],
        "order_not_found": [{"order_id": 99}],
        "order_released": [
            {"row": rows[0], "group": replace(w.group, pay_within=86400)},
            {"row": rows[1], "group": replace(w.group, pay_within=90 * 60)},
            {"row": rows[0], "group": replace(w.group, pay_within=86400 + 12 * HOUR)},
        ],
        "pay_reminder": [
            {"row": rows[0], "due_at": NOW + 6 * HOUR, "left": 6 * HOUR},
            {
                "row": rows[1],
                "group": replace(w.group, pay="invoice"),
                "due_at": NOW + 45 * 60,
                "left": 45 * 60,
            },
            {"row": rows[0], "due_at": NOW + 86400 + 2 * HOUR + 60, "left": 86400 + 2 * HOUR + 60},
        ],
        "orders": [
            {"rows": rows},
            {"rows": []},
            {
                "rows": [
                    replace(
                        rows[0],
                        order=replace(
                            rows[0].order, status=OrderStatus.CANCELLED, cancel_reason="unpaid"
                        ),
                    )
                ]
            },
        ],
        "payment_claimed": [{"row": row} for row in rows[:2]],
        "payment_confirmed": [{"row": rows[0]}],
        "payment_rejected": [{"row": rows[1]}],
        "payment_reminder": [{"rows": rows[:2]}],
        "payout_done": [{"amount": 500, "balance": 125, "currency": "CNY"}],
        "payout_too_much": [{"balance": 125, "currency": "CNY"}, {"balance": 0, "currency": "JPY"}],
        "reminder": [
            {"missing": missing, "left": split_duration(seconds)}
            for missing, seconds in ((2, HOUR), (1, 2 * HOUR + 5 * 60), (5, 86400 + 60), (3, 30))
        ],
        "restock_done": [{"units": 10, "offers": 0}, {"units": 1, "offers": 1}],
        "rewards": [
            {
                "balances": [Balance(-1001, w.text("Sunny Court"), 125, "CNY")],
                "entries": w.ledger(),
            },
            {"balances": [Balance(-1002, "", 0, "USD")], "entries": []},
            {"balances": [Balance(-1001, w.text("Oak"), 375, "CNY", 250)], "entries": []},
            {"balances": [], "entries": []},
        ],
        "round_failed": [{"lines": w.lines()[:2], "members": 2}],
        "round_formed": [
            {
                "deal": deal,
                "round": w.round(1),
                "lines": w.lines(),
                "members": 3,
                "units": 6,
                "next_round": 2,
            },
            {
                "deal": deal,
                "round": w.round(3),
                "lines": w.lines()[:1],
                "members": 1,
                "units": 1,
                "next_round": None,
            },
            {
                "deal": tipping,
                "round": w.round(1),
                "lines": w.lines(),
                "members": 3,
                "units": 6,
                "next_round": None,
            },
        ],
        "settings": [
            {"changed": None, "leaders": [], "pickups": []},
            {"changed": "lang", "leaders": w.members[:2], "pickups": w.pickups()},
            {
                "group": Group(
                    -1, "", "zh", "UTC", "USD", None, reward_kind="fixed", reward_value=150
                ),
                "changed": "reward",
                "leaders": [],
                "pickups": [],
            },
            {
                "group": Group(
                    -1, "x", "en", "UTC", "CNY", privacy="counts", reward_value=550, pin=True
                ),
                "changed": None,
                "leaders": [],
                "pickups": [],
            },
            {
                "group": Group(-1, "x", "en", "UTC", "CNY", pay_note=w.text("WeChat"), pay_qr="q"),
                "changed": "pay",
                "leaders": [],
                "pickups": [],
            },
            {
                "group": replace(w.group, pay_within=86400 + 12 * HOUR),
                "changed": "paywithin",
                "leaders": [],
                "pickups": [],
            },
        ],
        "settings_bad_key": [{"key": w.text("colour")}],
        "settings_bad_value": [
            {"key": key, "value": w.text("banana")} for key in group_settings.KEYS
        ],
        "settings_currency_busy": [
            {"reason": reason, "currency": "CNY"} for reason in ("deals", "balances", "reward")
        ],
        "settings_leader_done": [
            {"adding": adding, "changed": changed}
            for adding in (False, True)
            for changed in (False, True)
        ],
        "summary": [
            {"day": w.day()},
            {"day": GroupDay(w.group, date(2026, 11, 21), [], [])},
            {"day": w.released_day()},
            {"day": w.shared_day()},
        ],
        "summary_bad_day": [{"value": w.text("someday")}],
        "summary_day_out_of_range": [
            {"value": w.text("9999-12-31"), "first": date(1970, 1, 1), "last": date(9998, 12, 31)}
        ],
        "tap_claim_done": [{"accept": True, "row": rows[0]}, {"accept": False, "row": rows[1]}],
        "tap_formed": [{"quantity": 2, "round_number": 1}],
        "tap_joined": [
            {"quantity": 2, "round_number": 1, "members": 7, "option": None},
            {"quantity": 1, "round_number": 3, "members": 10, "option": option.name},
            {"deal": tipping, "quantity": 1, "round_number": 1, "members": 12, "option": None},
        ],
        "tap_left": [{"released": 1}, {"released": 2}],
        "tap_not_started": [
            {"starts_at": NOW + seconds, "left": seconds}
            for seconds in (1, 25 * 60, 2 * HOUR + 30, 3 * 86400)
        ],
        "repost_not_found": [{"deal_id": 404}],
        "helper_accepted": [{"commission": 1000}, {"commission": 750}],
        "helpsell_link": [
            {"link": "https://t.me/groupbuy_bot?start=h12_1000_abcdef", "commission": 1000},
            {"link": "https://t.me/groupbuy_bot?start=h12_1250_abcdef", "commission": 1250},
        ],
        "helpsell_start_first": [{"bot": "groupbuy_bot"}],
        "spread_too_many": [{"max": 10}],
        "spread_group_unknown": [
            {"name": w.text("Oak"), "titles": [w.text("Maple"), w.text("Pine 松")]},
            {"name": w.text("Oak"), "titles": []},
        ],
        "spread_group_ambiguous": [{"name": w.text("Oak"), "titles": []}],
        "spread_currency": [{"currency": "USD"}],
        "spread_group_currency": [{"name": w.text("Oak"), "currency": "USD"}],
        "spread_some_failed": [{"titles": [w.text("Oak"), w.text("Maple")]}],
        "tap_limit": [{"limit": 2}],
        "slow_down": [{"in_group": True}, {"in_group": False}],
        "shared_result": [{"view": w.view()}, {"view": w.view(tipping, lines=[])}],
        "shared_retired": [{"deal": deal}, {"deal": closed}],
        "tap_marked": [
            {"mark": mark, "value": value}
            for mark in ("paid", "collected")
            for value in (False, True)
        ],
        "tap_pickup": [{"name": w.text("Clubhouse")}],
        "tap_reminded": [{"sent": 1, "skipped": 0}, {"sent": 3, "skipped": 2}],
        "lang_usage": [
            {"current": "en", "chosen": None},
            {"current": "zh-Hant", "chosen": "zh-Hant"},
            {"current": "ru", "chosen": "ru"},
        ],
        "lang_done": [{"chosen": lang} for lang in LANGUAGES],
        "lang_bad": [{"value": w.text("Klingon")}],
        "tap_setting": [{"key": "lang", "value": "zh"}, {"key": "summary", "value": "off"}],
        "top": [
            {
                "standings": [
                    Standing(w.members[0], 5, 3),
                    Standing(w.members[1], 1, 1),
                    Standing(w.members[2], 0, 0),
                    Standing(Member(user_id=9, first_name="", forgotten_number=4), 1, 0),
                ]
            },
            {"standings": []},
        ],
        "unpaid": [{"rows": rows[:3]}, {"rows": []}],
        "refunds": [
            {"rows": rows[:3], "buttons": 3},
            {"rows": rows * 15, "buttons": 10},
            {"rows": [], "buttons": 0},
        ],
        "refund_due": [
            {"row": rows[0]},
            {"row": replace(rows[0], order=replace(rows[0].order, cancel_reason="unpaid"))},
        ],
        "refunds_to_make": [{"rows": rows[:1]}, {"rows": rows[:3]}],
        "button_refunded": [{"row": rows[0]}],
        "tap_refunded": [{"row": rows[0]}],
        "forgotten_member": [{"number": 7}],
        "waitlist_offer": [
            {"option": None, "expires_at": NOW + 30 * 60},
            {"option": option.name, "expires_at": NOW + 5 * 60},
        ],
    }


def _base(w: World) -> dict[str, Any]:
    """What most templates take; a variant adds to it or overrides it."""
    group = w.group
    return {
        "now": NOW,
        "deal": w.deal(),
        "group": group,
        "tz": group.tz,
        "member": w.members[0],
        "row": w.rows()[0],
    }


def cases(name: str, text: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """The contexts `name` renders with."""
    w = World(text)
    base = _base(w)
    return [{**base, **variant} for variant in _variants(w).get(name, [{}])]


def render(texts: Texts, name: str, lang: str, context: dict[str, Any]) -> str:
    """Render, with a message that says what to do when the sample lacks a value."""
    try:
        return texts.render(name, lang, **context)
    except jinja2.UndefinedError as error:
        pytest.fail(
            f"templates/{lang}/{name}.j2 needs a value the sample data lacks ({error}): "
            f"add or extend the {name!r} entry of _variants() in tests/test_templates.py"
        )


def nasty(_: str) -> str:
    return NASTY


# -- the tests ------------------------------------------------------------------------------


def _exported(texts: Texts, name: str, lang: str) -> dict[str, Any]:
    """The values a data template sets, read from this language's own file (no fallback)."""
    module = texts.catalogue(name, lang)
    return {key: value for key, value in vars(module).items() if not key.startswith("_")}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_labels_define_the_same_names(texts: Texts, lang: str) -> None:
    english = _exported(texts, "labels", "en")
    labels = _exported(texts, "labels", lang)
    assert labels.keys() == english.keys()
    for name, value in labels.items():
        assert isinstance(value, str) and value.strip(), name
        assert texts.label(name, lang) == value


@pytest.mark.parametrize("lang", LANGUAGES)
def test_command_menus_have_the_same_commands(texts: Texts, lang: str) -> None:
    english = _exported(texts, "commands", "en")
    menus = _exported(texts, "commands", lang)
    assert menus.keys() == english.keys()
    for scope, commands in menus.items():
        assert [c for c, _ in commands] == [c for c, _ in english[scope]], scope
        for command, description in commands:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", command), command
            assert 3 <= len(description) <= 256, (scope, command, description)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", RENDERED)
def test_template_renders_as_valid_telegram_text(texts: Texts, name: str, lang: str) -> None:
    base = _base(World(str)).keys()
    for context in cases(name):
        text = render(texts, name, lang, context)
        where = f"{lang}/{name} with {sorted(context.keys() - base)}"
        assert text.strip(), f"{where} is empty"
        assert "{{" not in text and "{%" not in text and "{#" not in text, where
        if _is_plain(name):
            assert "&lt;" not in text and "&amp;" not in text, f"{where}: plain text escaped"
            if name.startswith("tap_"):
                assert len(text) <= TAP_LIMIT, f"{where}: {len(text)} > {TAP_LIMIT}"
        else:
            try:
                visible, _ = parse_html(text)
            except HtmlError as error:
                pytest.fail(f"{where} is not valid Telegram HTML: {error}\n{text}")
            assert visible.strip(), where
            assert utf16_len(text) <= MESSAGE_LIMIT, f"{where}: {utf16_len(text)} characters"
            if name == "deal_card_short":  # the photo card's caption when the full one is long
                assert utf16_len(text) <= CAPTION_LIMIT, f"{where}: {utf16_len(text)} characters"


def _shape(texts: Texts, name: str, lang: str, context: dict[str, Any]) -> dict[str, Any]:
    """What a translation keeps: the lines (blank or not), the emoji and the kinds of markup."""
    text = render(texts, name, lang, context)
    entities = [] if _is_plain(name) else parse_html(text)[1]
    return {
        "lines": [bool(line.strip()) for line in text.split("\n")],
        "emoji": sorted(char for char in text if unicodedata.category(char) == "So"),
        "markup": sorted({entity["type"] for entity in entities}),
    }


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
@pytest.mark.parametrize("name", RENDERED)
def test_translation_keeps_the_shape_of_the_english(texts: Texts, name: str, lang: str) -> None:
    for context in cases(name):
        english = _shape(texts, name, "en", context)
        assert _shape(texts, name, lang, context) == english, f"{lang}/{name} differs from en"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", RENDERED)
def test_user_text_is_shown_literally(texts: Texts, name: str, lang: str) -> None:
    """Titles, names, notes and typed values with <b>, &, * and _ come out as typed."""
    for context in cases(name, nasty):
        text = render(texts, name, lang, context)
        if _is_plain(name):
            visible = text  # shown as is, without parse mode
        else:
            try:
                visible, _ = parse_html(text)
            except HtmlError as error:
                pytest.fail(f"{lang}/{name}: user text broke the HTML: {error}\n{text}")
        # Wherever user text appears, all of it appears, exactly as typed.
        assert visible.count("Jerry") == visible.count(NASTY), f"{lang}/{name}:\n{visible}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_user_text_appears_in_the_main_messages(texts: Texts, lang: str) -> None:
    for name in ("deal_card", "summary", "orders", "deal_form_error", "unpaid", "tap_joined"):
        shown = []
        for context in cases(name, nasty):
            text = render(texts, name, lang, context)
            shown.append(text if _is_plain(name) else parse_html(text)[0])
        assert any(NASTY in visible for visible in shown), f"{lang}/{name}"
    card = render(texts, "deal_card", lang, cases("deal_card", nasty)[0])
    visible, entities = parse_html(card)
    assert visible.startswith(NASTY)
    bold = {"offset": 0, "length": utf16_len(NASTY), "type": "bold"}
    assert entities[0] == bold, "the title is bold, as a whole, and nothing else is"


def test_deal_form_error_covers_every_problem() -> None:
    """One layout words every problem (the catalogs then carry it into each language)."""
    source = (TEMPLATES / "deal_form_error.j2").read_text()
    handled = set(re.findall(r'problem == "(\w+)"', source))
    known = {problem for problems in PROBLEMS.values() for problem in problems}
    assert not (known | set(KEY_PROBLEMS)) - handled, "no wording for these problems"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", ["deal_usage", "deal_form_error"])
@pytest.mark.parametrize("digits", [2, 0])
def test_example_forms_parse(texts: Texts, lang: str, name: str, digits: int) -> None:
    context = {**cases(name)[0], "digits": digits}
    examples = re.findall(r"<pre>(/deal .*?)</pre>", render(texts, name, lang, context), re.S)
    assert examples, f"{lang}/{name} shows no example"
    now = datetime.fromtimestamp(NOW, UTC)
    for example in examples:
        body = html.unescape(example).removeprefix("/deal ")
        form = parse_deal_form(body, now=now, tz=ZoneInfo("Asia/Shanghai"), money_digits=digits)
        assert form.price == 1250, example
        assert form.min_members == 10
