"""Daily summaries and exports, as pure values: which day, what it holds, when it is due."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.currency import digits
from bot.core.errors import UserError
from bot.core.models import Deal, Group, Member, OrderRow, RoundStatus

_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$")
# Days whose bounds exist in every time zone: date arithmetic overflows at year 1 and 9999.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
_WORDS = {"today": 0, "今天": 0, "сегодня": 0, "yesterday": -1, "昨天": -1, "вчера": -1}
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def parse_day(text: str | None, today: date) -> date:
    """`today`, `yesterday` or `YYYY-MM-DD` (default today); UserError for anything else."""
    if not text:
        return today
    word = text.strip().lower()
    day = None
    if word in _WORDS:
        day = today + timedelta(days=_WORDS[word])
    elif match := _DATE.match(word):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    if day is None:
        raise UserError("summary_bad_day", value=text[:30])
    if not FIRST_DAY <= day <= LAST_DAY:
        raise UserError("summary_day_out_of_range", value=text[:30], first=FIRST_DAY, last=LAST_DAY)
    return day


def local_today(now: datetime, tz: str) -> date:
    """The calendar day it is in the group's time zone."""
    return now.astimezone(ZoneInfo(tz)).date()


def day_bounds(day: date, tz: str) -> tuple[int, int]:
    """The UTC Unix seconds [start, end) of a local calendar day (23 or 25 hours at DST)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return int(start.astimezone(UTC).timestamp()), int(end.astimezone(UTC).timestamp())


def parse_summary_time(text: str) -> str | None:
    """`HH:MM` normalised to two digits each, or None for `off`; UserError otherwise."""
    word = text.strip().lower()
    if word in ("off", "none", "关", "关闭"):
        return None
    match = _TIME.match(word)
    if not match:
        raise UserError("settings_bad_value", key="summary", value=text[:30])
    return f"{int(match[1]):02d}:{match[2]}"


def summary_due(now: datetime, group: Group) -> date | None:
    """The local day whose summary should go out now, or None.

    Due once the group's summary time has passed today and today's has not been sent;
    so a bot that was down at that moment sends it when it comes back the same day.
    """
    if not group.summary_time:
        return None
    local = now.astimezone(ZoneInfo(group.tz))
    hours, minutes = (int(part) for part in group.summary_time.split(":"))
    if (local.hour, local.minute) < (hours, minutes):
        return None
    today = local.date()
    if group.summary_sent_on is not None and group.summary_sent_on >= today.isoformat():
        return None
    return today


@dataclass(frozen=True)
class DealDay:
    """One deal's business on one day: its formed rounds and their confirmed orders, and
    the orders released unpaid that day (their payment window ended)."""

    deal: Deal
    rounds_formed: list[int]
    rounds_failed: int
    rows: list[OrderRow]
    released: list[OrderRow] = field(default_factory=list)  # released unpaid this day

    @property
    def units(self) -> int:
        """Units confirmed."""
        return sum(row.order.quantity for row in self.rows)

    @property
    def revenue(self) -> int:
        """Value of the confirmed orders, in minor units."""
        return sum(row.order.amount for row in self.rows)

    @property
    def paid(self) -> int:
        """Value of the orders marked paid."""
        return sum(row.order.amount for row in self.rows if row.order.paid)

    @property
    def by_option(self) -> list[tuple[str, int, int]]:
        """(option, units, revenue) for a deal with options, in the order first ordered."""
        totals: dict[str, list[int]] = {}
        for row in self.rows:
            if row.option is not None:
                total = totals.setdefault(row.option, [0, 0])
                total[0] += row.order.quantity
                total[1] += row.order.amount
        return [(name, units, revenue) for name, (units, revenue) in totals.items()]

    @property
    def by_group(self) -> list[tuple[str, int, int, int]]:
        """(group, units, revenue, helper commission) for a deal sold in several groups,
        in the order first ordered; empty when every order came through its own group."""
        if all(row.via is None for row in self.rows):
            return []
        totals: dict[int, list[Any]] = {}
        for row in self.rows:
            chat_id, title = row.sold_in
            total = totals.setdefault(chat_id, [title, 0, 0, 0])
            total[1] += row.order.quantity
            total[2] += row.order.amount
            total[3] += row.commission
        return [(title, units, revenue, paid) for title, units, revenue, paid in totals.values()]


@dataclass(frozen=True)
class PickupEntry:
    """What one member collects: every confirmed order of the day, across deals."""

    member: Member
    rows: list[OrderRow] = field(default_factory=list)


@dataclass(frozen=True)
class PickupPlace:
    """A pickup point's list (point None: orders without a point), members by name."""

    point: str | None
    entries: list[PickupEntry]


@dataclass(frozen=True)
class GroupDay:
    """A group's summary for one local day."""

    group: Group
    day: date
    deals: list[DealDay]
    pickup: list[PickupPlace]
    rewards: list[tuple[Member, int]] = field(default_factory=list)
    commissions: list[tuple[Member, int]] = field(default_factory=list)  # helper leaders'

    @property
    def units(self) -> int:
        """Units confirmed across deals."""
        return sum(deal.units for deal in self.deals)

    @property
    def revenue(self) -> int:
        """Revenue across deals, in minor units."""
        return sum(deal.revenue for deal in self.deals)

    @property
    def paid(self) -> int:
        """Paid across deals, in minor units."""
        return sum(deal.paid for deal in self.deals)

    @property
    def orders(self) -> int:
        """Confirmed orders across deals."""
        return sum(len(deal.rows) for deal in self.deals)

    @property
    def all_rows(self) -> list[OrderRow]:
        """Every confirmed order of the day, deal by deal."""
        return [row for deal in self.deals for row in deal.rows]

    @property
    def empty(self) -> bool:
        """Nothing happened this day."""
        return not self.deals


def build_day(
    group: Group,
    day: date,
    rows: list[OrderRow],
    rounds: list[tuple[int, int, RoundStatus]],
    deals: dict[int, Deal],
    rewards: list[tuple[Member, int]] | None = None,
    released: list[OrderRow] | None = None,
    commissions: list[tuple[Member, int]] | None = None,
) -> GroupDay:
    """Assemble the day from the formed rounds' orders, the rounds that ended and the
    orders released unpaid."""
    by_deal: dict[int, list[OrderRow]] = {}
    for row in rows:
        by_deal.setdefault(row.deal.id, []).append(row)
    freed: dict[int, list[OrderRow]] = {}
    for row in released or []:
        freed.setdefault(row.deal.id, []).append(row)
    deal_days = []
    for deal_id in sorted({deal_id for deal_id, _, _ in rounds} | set(by_deal) | set(freed)):
        ended = [(number, status) for d, number, status in rounds if d == deal_id]
        formed = [number for number, status in ended if status is RoundStatus.FORMED]
        failed = sum(1 for _, status in ended if status is RoundStatus.FAILED)
        deal_rows = by_deal.get(deal_id, [])
        deal_freed = freed.get(deal_id, [])
        if not formed and not deal_rows and not failed and not deal_freed:
            continue
        deal = (deal_rows or deal_freed)[0].deal if deal_rows or deal_freed else deals[deal_id]
        deal_days.append(DealDay(deal, formed, failed, deal_rows, deal_freed))
    return GroupDay(
        group=group,
        day=day,
        deals=deal_days,
        pickup=pickup_places(rows),
        rewards=rewards or [],
        commissions=commissions or [],
    )


def pickup_places(rows: list[OrderRow]) -> list[PickupPlace]:
    """Orders grouped by pickup point (named points first), then by member name."""
    places: dict[str | None, dict[int, PickupEntry]] = {}
    for row in rows:
        members = places.setdefault(row.pickup, {})
        members.setdefault(row.member.user_id, PickupEntry(row.member)).rows.append(row)
    ordered = sorted(places, key=lambda point: (point is None, (point or "").casefold()))
    return [
        PickupPlace(
            point,
            sorted(
                places[point].values(),
                key=lambda e: (e.member.name.casefold(), e.member.user_id),
            ),
        )
        for point in ordered
    ]


EXPORT_COLUMNS = (
    "order_id",
    "group_id",
    "group_title",
    "deal_id",
    "deal_title",
    "option",
    "round",
    "member_id",
    "member_name",
    "username",
    "quantity",
    "unit_price",
    "amount",
    "currency",
    "status",
    "paid",
    "paid_at",
    "collected",
    "collected_at",
    "ordered_at",
    "pickup_point",
    "code",
    "telegram_payment_charge_id",
    "provider_payment_charge_id",
    "refund_due_at",
    "refunded_at",
    "cancel_reason",
    "sold_in_group_id",
    "sold_in_group",
    "helper_id",
    "helper_commission",
)


# A cell starting with one of these is a formula to a spreadsheet program (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: str) -> str:
    """A name, title or option as a spreadsheet shows it: a would-be formula gets the
    apostrophe that spreadsheet programs themselves use to mark a cell as text."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_csv(
    rows: list[OrderRow], tz: str, name: Callable[[Member], str] = lambda member: member.name
) -> bytes:
    """Orders as CSV, UTF-8 with a BOM so that spreadsheet programs show Chinese right.

    Money columns are decimal strings of the currency's units (12.50), times are local.
    Text that members and leaders typed is neutralised against formula injection; the
    numbers the bot writes stay numbers.
    """

    def when(stamp: int | None) -> str:
        if stamp is None:
            return ""
        return (
            datetime.fromtimestamp(stamp, UTC).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
        )

    def decimal(minor: int, currency: str) -> str:
        places = digits(currency)
        if not places:
            return str(minor)
        units, cents = divmod(minor, 10**places)
        return f"{units}.{cents:0{places}d}"

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        order, deal = row.order, row.deal
        writer.writerow(
            (
                order.id,
                deal.chat_id,
                as_text_cell(row.group_title),
                deal.id,
                as_text_cell(deal.title),
                as_text_cell(row.option or ""),
                row.round_number,
                row.member.user_id,
                as_text_cell(name(row.member)),
                as_text_cell(row.member.username or ""),
                order.quantity,
                decimal(order.unit_price, deal.currency),
                decimal(order.amount, deal.currency),
                deal.currency,
                str(order.status),
                "yes" if order.paid else "no",
                when(order.paid_at),
                "yes" if order.collected else "no",
                when(order.collected_at),
                when(order.created_at),
                as_text_cell(row.pickup or ""),
                as_text_cell(order.code or ""),
                as_text_cell(order.telegram_payment_charge_id or ""),
                as_text_cell(order.provider_payment_charge_id or ""),
                when(order.refund_due_at),
                when(order.refunded_at),
                order.cancel_reason or "",
                row.sold_in[0],
                as_text_cell(row.sold_in[1]),
                row.via.helper_id if row.via and row.via.helper_id else "",
                decimal(row.commission, deal.currency) if row.commission else "",
            )
        )
    return out.getvalue().encode("utf-8-sig")
