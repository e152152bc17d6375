"""Plain values the store returns and the rules, handlers and templates read."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.languages import DEFAULT_LANGUAGE, language_for

# Telegram's stand-ins for a person: an administrator posting as the group
# (GroupAnonymousBot) and a post on behalf of a channel (Channel_Bot). A deal one of them
# posted has no person to ask, so the group's leaders are asked instead.
ANONYMOUS_SENDERS = frozenset({1087968824, 136817688})


class DealStatus(StrEnum):
    """Where a deal is in its life."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class RoundStatus(StrEnum):
    """How a round ended, or that it has not yet."""

    OPEN = "open"
    FORMED = "formed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OrderStatus(StrEnum):
    """An order's status; paid and collected are marks on a confirmed order."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Group:
    """A Telegram group the bot serves, with its settings."""

    chat_id: int
    title: str
    lang: str
    tz: str
    currency: str
    summary_time: str | None = "21:00"
    summary_sent_on: str | None = None
    reward_kind: str = "percent"
    reward_value: int = 0
    levels: int = 1
    privacy: str = "names"  # cards show names, or only "counts"
    pin: bool = False  # deal cards are pinned while their deal is open
    pin_warned: bool = False  # the leaders were told the bot may not pin (since pin on)
    pay: str = "off"  # "invoice": confirmed orders come with a Telegram Payments invoice
    # Without invoices: how to pay (a transfer note) and a payment QR image's file_id,
    # shown with each confirmed order.
    pay_note: str | None = None
    pay_qr: str | None = None

    @property
    def pays_by_hand(self) -> bool:
        """Whether members pay the leader directly, following instructions or a QR code."""
        return self.pay != "invoice" and bool(self.pay_note or self.pay_qr)

    pay_within: int = 0  # seconds a confirmed order may stay unpaid; 0: no payment window
    pay_within_at: int = 0  # when the window was set (earlier orders count from then)


@dataclass(frozen=True)
class Member:
    """A Telegram user as the bot last saw them."""

    user_id: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    language_code: str | None = None
    # Chosen with /lang, over Telegram's language_code; not part of who the member is
    # (a member seen in an update carries none, and is still the same member).
    lang: str | None = field(default=None, compare=False)
    # Set by /forgetme: the names above are blank and templates show "Forgotten member #N".
    forgotten_number: int | None = None

    def speaks(self, fallback: str = DEFAULT_LANGUAGE) -> str:
        """The member's language: chosen with /lang, else Telegram's, else `fallback` (the
        group's language where there is a group)."""
        return self.lang or language_for(self.language_code, fallback)

    @property
    def name(self) -> str:
        """The name to show: first and last name, else the username, else the id."""
        full = f"{self.first_name} {self.last_name}".strip()
        return full or (f"@{self.username}" if self.username else str(self.user_id))


@dataclass(frozen=True)
class Deal:
    """One product offer in one group."""

    id: int
    chat_id: int
    leader_id: int
    title: str
    description: str | None
    photo_file_id: str | None
    price: int
    currency: str
    min_members: int
    deadline: int
    stock: int | None
    member_limit: int | None
    note: str | None
    mode: str
    status: DealStatus
    taken: int
    card_message_id: int | None
    created_at: int
    closed_at: int | None
    starts_at: int | None = None  # a timed sale opens then; None: open from the start
    opened_at: int | None = None  # when a timed sale's opening was announced
    # In several groups: one stock and set of rounds ("shared") or a deal of its own in
    # each ("per-group"); a per-group copy names the deal it was made from.
    stock_scope: str = "shared"
    copied_from: int | None = None

    @property
    def stock_left(self) -> int | None:
        """Units still free, or None when the deal has no stock cap."""
        return None if self.stock is None else self.stock - self.taken

    def opens_later(self, now: int) -> bool:
        """A timed sale before its start: the card is a preview and taps are refused."""
        return self.starts_at is not None and now < self.starts_at

    @property
    def opens_from(self) -> int:
        """When the deal takes orders: its start, else when it was posted."""
        return self.created_at if self.starts_at is None else max(self.created_at, self.starts_at)


@dataclass(frozen=True)
class DealGroup:
    """A further group that shows a deal (its card there), and the helper leader who sells
    it there for a commission, if one does."""

    deal_id: int
    chat_id: int
    card_message_id: int | None
    helper_id: int | None = None
    commission: int = 0  # basis points of each order's value

    @property
    def helped(self) -> bool:
        return self.helper_id is not None


@dataclass(frozen=True)
class Round:
    """One round of a deal."""

    id: int
    deal_id: int
    number: int
    status: RoundStatus
    opened_at: int
    tipped_at: int | None
    closed_at: int | None
    joined: int | None = None  # members in the round when it closed


@dataclass(frozen=True)
class Order:
    """One member's quantity in one round."""

    id: int
    deal_id: int
    round_id: int
    user_id: int
    quantity: int
    unit_price: int
    status: OrderStatus
    created_at: int
    paid_at: int | None = None
    collected_at: int | None = None
    option_id: int | None = None
    pickup_id: int | None = None
    code: str | None = None
    paid_claimed_at: int | None = None
    # Set once when the member paid the order's invoice (Telegram Payments).
    telegram_payment_charge_id: str | None = None
    provider_payment_charge_id: str | None = None
    # A paid order cancelled is owed back (refund_due_at) until a leader refunds it.
    refund_due_at: int | None = None
    refunded_at: int | None = None
    cancel_reason: str | None = None  # "unpaid": released when its payment window ended

    @property
    def amount(self) -> int:
        """What this order costs, in minor units."""
        return self.quantity * self.unit_price

    @property
    def paid(self) -> bool:
        """Marked paid by a leader."""
        return self.paid_at is not None

    @property
    def collected(self) -> bool:
        """Marked collected by a leader."""
        return self.collected_at is not None


@dataclass(frozen=True)
class OrderRow:
    """An order with the member, deal and round it belongs to: what lists and summaries show."""

    order: Order
    member: Member
    deal: Deal
    round_number: int
    group_title: str = ""
    option: str | None = None
    pickup: str | None = None
    via: Via | None = None  # the further group it came through, when not the deal's own
    credited: int = 0  # the helper's commission the ledger credited on it (minor units)

    @property
    def sold_in(self) -> tuple[int, str]:
        """(chat id, title) of the group the order came through."""
        return (
            (self.via.chat_id, self.via.title)
            if self.via
            else (self.deal.chat_id, self.group_title)
        )

    @property
    def commission(self) -> int:
        """What the helper leader of the group it came through earns on it (minor units),
        as the ledger credited it: on a confirmed order only (a cancelled one's was
        reversed)."""
        return self.credited if self.order.status is OrderStatus.CONFIRMED else 0


@dataclass(frozen=True)
class Via:
    """The further group an order came through, and its helper leader's terms."""

    chat_id: int
    title: str
    helper_id: int | None = None
    commission: int = 0  # basis points


@dataclass(frozen=True)
class MarkBatch:
    """A mark set on a member's orders in one deal at once (/paid @name): the orders it
    changed and the first and last of its order_marks entries, which its Undo names."""

    deal: Deal
    member: Member
    mark: str
    order_ids: tuple[int, ...]
    first_entry: int
    last_entry: int


@dataclass(frozen=True)
class UndoneBatch:
    """What undoing a MarkBatch did: `cleared` of its `total` marks removed (the others
    were undone before, or set again since)."""

    deal: Deal
    member: Member
    mark: str
    cleared: int
    total: int


@dataclass(frozen=True)
class Line:
    """A member's order as a card or a notice lists it."""

    member: Member
    quantity: int
    option: str | None = None
    code: str | None = None
    order_id: int | None = None
    amount: int | None = None
    pickup: str | None = None
    round_number: int | None = None


@dataclass(frozen=True)
class DealOption:
    """One option of a deal, with its own price and stock."""

    id: int
    deal_id: int
    position: int
    name: str
    price: int
    stock: int | None
    taken: int

    @property
    def stock_left(self) -> int | None:
        """Units of this option still free, or None without a cap."""
        return None if self.stock is None else self.stock - self.taken


@dataclass(frozen=True)
class PickupPoint:
    """A place where members collect their goods."""

    id: int
    chat_id: int
    name: str


@dataclass(frozen=True)
class RoundTally:
    """How many members and units one formed round of a closed deal had."""

    number: int
    members: int
    units: int


@dataclass(frozen=True)
class DealView:
    """Everything the deal card shows, read in one go.

    `lines` are the orders the card lists: the open round's while the deal is open; once
    it has closed, the confirmed orders of every round that formed (the final list)."""

    deal: Deal
    group: Group
    open_round: Round | None
    lines: list[Line]
    rounds_formed: int
    last_round: Round | None
    options: list[DealOption] = field(default_factory=list)
    pickups: list[PickupPoint] = field(default_factory=list)

    @property
    def members(self) -> int:
        """Distinct members in the lines (the open round, or the formed rounds)."""
        return len({line.member.user_id for line in self.lines})

    @property
    def units(self) -> int:
        """Units in the lines."""
        return sum(line.quantity for line in self.lines)

    def units_of(self, option: DealOption) -> int:
        """Units of an option in the lines."""
        return sum(line.quantity for line in self.lines if line.option == option.name)

    def tallies(self) -> dict[int, RoundTally]:
        """Members and units of each round the lines come from, by round number."""
        members: dict[int, set[int]] = {}
        units: dict[int, int] = {}
        for line in self.lines:
            number = line.round_number or 0
            members.setdefault(number, set()).add(line.member.user_id)
            units[number] = units.get(number, 0) + line.quantity
        return {n: RoundTally(n, len(members[n]), units[n]) for n in members}

    @property
    def failed_round(self) -> Round | None:
        """The round the deal ended with, if it failed (its `joined` says how many were in)."""
        last = self.last_round
        return last if last is not None and last.status is RoundStatus.FAILED else None

    @property
    def stock_sold(self) -> tuple[int, int] | None:
        """(units taken, stock) when the deal's units are capped: its own stock, or the
        sum of its options' when every option has one."""
        deal = self.deal
        if deal.stock is not None and deal.taken >= deal.stock:
            return deal.taken, deal.stock
        if self.options and all(o.stock is not None for o in self.options):
            return sum(o.taken for o in self.options), sum(o.stock or 0 for o in self.options)
        return None if deal.stock is None else (deal.taken, deal.stock)

    @property
    def sold_out(self) -> bool:
        """No unit of the deal is left."""
        left = self.deal.stock_left
        if left is not None and left <= 0:
            return True
        return bool(self.options) and all(
            o.stock_left is not None and o.stock_left <= 0 for o in self.options
        )


@dataclass(frozen=True)
class ClosedRound:
    """A round that just ended, with who was in it: what notifications need."""

    deal: Deal
    round: Round
    lines: list[Line]
    next_round: int | None = None
    offers: list[Offer] = field(default_factory=list)


@dataclass(frozen=True)
class Offer:
    """A freed unit offered to the first member on a waitlist, for a limited time."""

    waitlist_id: int
    deal: Deal
    user_id: int
    option: str | None
    expires_at: int


@dataclass(frozen=True)
class JoinOutcome:
    """What a Join tap did."""

    deal: Deal
    round_number: int
    quantity: int
    members: int
    tipped: bool = False
    closed: ClosedRound | None = None
    option: str | None = None
    order_id: int | None = None
    needs_pickup: bool = False
    offers: list[Offer] = field(default_factory=list)


@dataclass(frozen=True)
class LeaveOutcome:
    """What a Leave tap did."""

    deal: Deal
    round_number: int
    released: int
    members: int
    offers: list[Offer] = field(default_factory=list)


@dataclass(frozen=True)
class CancelledDeal:
    """A deal the leader cancelled, with every order that it cancelled, and how many of
    them were paid (now owed back)."""

    deal: Deal
    lines: list[Line] = field(default_factory=list)
    refunds_due: int = 0


@dataclass(frozen=True)
class LedgerEntry:
    """One line of a member's reward ledger."""

    id: int
    chat_id: int
    user_id: int
    kind: str  # reward, reversal, payout
    amount: int
    currency: str
    order_id: int | None
    level: int | None
    created_at: int
    group_title: str = ""
    group_tz: str = "UTC"


@dataclass(frozen=True)
class Balance:
    """A member's reward balance in one group, and the part of it that is helper
    commissions (less their reversals)."""

    chat_id: int
    group_title: str
    amount: int
    currency: str
    commission: int = 0


@dataclass(frozen=True)
class Standing:
    """One row of a group's referral leaderboard."""

    member: Member
    referred_orders: int
    invites: int
