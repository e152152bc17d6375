"""The group-buy service: store, rules and templates put to work, and Telegram told about it.

Handlers and the scheduler call this; it is the one place that decides who hears what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.error import TelegramError

from bot.clock import Clock
from bot.config import Settings
from bot.core import callbacks, currency, rounds
from bot.core.errors import UserError
from bot.core.forms import DealForm, Mode, OptionForm, parse_deal_form, written_in
from bot.core.links import Links
from bot.core.models import (
    CancelledDeal,
    ClosedRound,
    Deal,
    DealOption,
    DealStatus,
    DealView,
    Group,
    JoinOutcome,
    LeaveOutcome,
    Member,
    OrderRow,
)
from bot.core.repost import parse_repost
from bot.grouplines import GroupLines
from bot.metrics import Metrics
from bot.scheduler import Deadlines
from bot.services.cards import DealCards
from bot.services.groups import Groups
from bot.services.languages import Languages
from bot.services.menus import Menus
from bot.services.notify import Notifier
from bot.services.payments import Payments
from bot.services.pins import CardPins
from bot.services.referrals import Referrals
from bot.services.shared import SharedCards
from bot.services.spread import Spread
from bot.services.waitlist import Waitlist
from bot.texts import Texts, split_duration
from storage.store import Store

log = logging.getLogger(__name__)

PAST_DEALS = 20  # the deals /deals past lists


class GroupBuy:
    """Posts deals, takes taps, closes rounds and tells everyone concerned."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        texts: Texts,
        clock: Clock,
        bot: Bot,
        lines: GroupLines,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics(clock)
        self.settings = settings
        self.store = store
        self.texts = texts
        self.clock = clock
        self.bot = bot
        self.links = Links(settings.telegram.token.get_secret_value().encode())
        # Each group's line of messages (Outbound's): the card and the texts take turns.
        self.lines = lines
        self.deadlines = Deadlines(
            clock,
            store,
            on_due=self.close_due,
            on_remind=self.remind,
            on_open=self.open_due,
            on_opened=lambda deal: self.cards.refresh(deal),
            remind_before=settings.deals.reminder_before_minutes * 60,
            tick_seconds=settings.deals.sweep_seconds,
        )
        self._create_task = spawn
        self._background: set[asyncio.Task[None]] = set()
        # The answer to every further Join on a deal that has ended (sold out or closed):
        # in a flash sale most taps come after the last unit, and none needs the store.
        self._ended: dict[int, str] = {}
        self._open_seen: set[int] = set()
        # Deadlines close one deal at a time: when a thousand fall due in one minute, a
        # tap waits for the write lock behind one closing, not behind all of them (each
        # writer queues for it in turn; bench/many_groups.py measured 27 s before).
        self._closing = asyncio.Lock()
        self.payments = Payments(self)
        self.waitlist = Waitlist(self)
        self.cards = DealCards(
            store=store, texts=texts, clock=clock, bot=bot, links=self.links, lines=lines
        )
        self.menus = Menus(bot=bot, texts=texts)
        self.groups = Groups(
            settings=settings,
            store=store,
            clock=clock,
            bot=bot,
            spawn=self._spawn,
            menus=self.menus,
        )
        self.referrals = Referrals(store=store, clock=clock, links=self.links)
        self.spread = Spread(self)
        self.languages = Languages(store=store, clock=clock)
        self.notify = Notifier(
            store=store,
            texts=texts,
            clock=clock,
            bot=bot,
            lines=lines,
            cards=self.cards,
            languages=self.languages,
        )
        self.notify.invoices = self.payments.send_invoice
        self.pins = CardPins(
            store=store, texts=texts, bot=bot, groups=self.groups, notify=self.notify
        )
        # Copies of the cards shared into other chats (inline mode): redrawn with the card.
        self.shared = SharedCards(
            store=store,
            texts=texts,
            clock=clock,
            bot=bot,
            links=self.links,
            cards=self.cards,
            groups=self.groups,
            taps=self.notify.taps,
            interval=settings.telegram.card_edit_interval,
        )
        self.cards.shared_copies = self.shared.refresh

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Close what fell due while we were down, arm every future deadline, set the menus."""
        await self.deadlines.start()
        await self.menus.register()

    async def stop(self) -> None:
        """Stop the timers, then finish the notifications and card edits under way."""
        self.deadlines.shutdown()
        await self.settle()

    async def settle(self) -> None:
        """Wait for background notifications, then make pending card edits now."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.lines.flush()
        await self.shared.flush()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run notifications in the background so that a tap's answer never waits on them
        (the application's tasks: a failure reaches the error handler, and stopping waits
        for them)."""
        task = self._create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def first_delivery(self, update_id: int, sender: Member | None) -> bool:
        """Claim an update for handling; False if Telegram delivered it before."""
        return await self.store.deliveries.first_delivery(update_id, self.clock.timestamp(), sender)

    async def forget_old_deliveries(self) -> None:
        """Telegram redelivers an update for a day at most; older records can go."""
        await self.store.deliveries.forget_deliveries(self.clock.timestamp() - 2 * 86400)

    # -- deals ------------------------------------------------------------------------

    async def post_deal(
        self, group: Group, leader: Member, body: str, photo_file_id: str | None
    ) -> Deal:
        """Parse the form, store the deal, post its card and arm its deadline; show it in
        the further groups the form names (`groups:`).

        Raises FormError (a UserError) for a bad form or a group the leader does not
        lead; nothing is stored then.
        """
        form = parse_deal_form(
            body,
            now=self.clock.now(),
            tz=ZoneInfo(group.tz),
            money_digits=currency.digits(group.currency),
            # A Russian form (or any form in a Russian group) writes dates day first.
            day_first=written_in(body, group.lang) == "ru",
        )
        return await self._post_everywhere(group, leader, form, photo_file_id)

    async def _post_everywhere(
        self, group: Group, leader: Member, form: DealForm, photo_file_id: str | None
    ) -> Deal:
        """Post the deal here, then in the further groups the form names (`groups:`):
        those are checked first, so that a wrong name stores nothing."""
        further = await self.spread.resolve(form.groups, group, leader) if form.groups else []
        deal = await self.post_form(group, leader, form, photo_file_id)
        if failed := await self.spread.post_to(deal, further, leader):
            raise UserError("spread_some_failed", deal=deal, titles=[g.title for g in failed])
        return deal

    async def repost(self, group: Group, leader: Member, deal_id: int, overrides: str) -> Deal:
        """Post a copy of a past deal in this group: what the leader typed after its number
        (`[deadline] [stock]`, `key=value`) replaces the old values. The deal must be this
        group's, or one of a group the leader also leads; else it is not found.

        Raises FormError for a bad override, as /deal does; nothing is stored then.
        """
        deal = await self.store.deals.get_deal(deal_id)
        if deal is None or (
            deal.chat_id != group.chat_id
            and not await self.groups.is_leader(deal.chat_id, leader.user_id)
        ):
            raise UserError("repost_not_found", deal_id=deal_id)
        base = await self.form_of(deal, group)
        form = parse_repost(
            overrides,
            base,
            period=timedelta(seconds=deal.deadline - deal.opens_from),
            now=self.clock.now(),
            tz=ZoneInfo(group.tz),
            money_digits=currency.digits(group.currency),
            repriced=deal.currency != group.currency,
            day_first=written_in(overrides, group.lang) == "ru",
        )
        return await self._post_everywhere(group, leader, form, deal.photo_file_id)

    async def form_of(self, deal: Deal, group: Group) -> DealForm:
        """The form a deal was posted with, for a copy of it in this group."""
        options, pickups = await self.store.deals.deal_makings(deal.id)
        return DealForm(
            title=deal.title,
            price=deal.price,
            min_members=deal.min_members,
            deadline=datetime.fromtimestamp(deal.deadline, UTC),
            stock=deal.stock,
            limit=deal.member_limit,
            mode=Mode(deal.mode),
            note=deal.note,
            description=deal.description,
            options=tuple(OptionForm(o.name, o.price, o.stock) for o in options),
            # The points are the group's: another group's copy uses all of its own.
            pickups=tuple(pickups) if deal.chat_id == group.chat_id else (),
            start=datetime.fromtimestamp(deal.starts_at, UTC) if deal.starts_at else None,
            stock_scope=deal.stock_scope,
        )

    async def past_deals(self, chat_id: int) -> list[Deal]:
        """The group's last deals, open or ended, newest first (/deals past)."""
        return await self.store.deals.past_deals(chat_id, PAST_DEALS)

    async def post_form(
        self,
        group: Group,
        leader: Member,
        form: DealForm,
        photo_file_id: str | None,
        copied_from: int | None = None,
    ) -> Deal:
        """Store a checked deal, post its card and arm its timers."""
        deal = await self.store.deals.create_deal(
            chat_id=group.chat_id,
            leader=leader,
            form=form,
            photo_file_id=photo_file_id,
            currency=group.currency,
            now=self.clock.timestamp(),
            copied_from=copied_from,
        )
        try:
            await self.post_card(deal)
        except TelegramError:
            # A deal nobody can see must not collect orders or fire timers.
            await self.store.rounds.cancel_deal(deal.id, self.clock.timestamp())
            raise
        self.deadlines.arm(deal)
        log.info("deal posted chat=%s deal=%s leader=%s", group.chat_id, deal.id, leader.user_id)
        return deal

    async def post_card(self, deal: Deal) -> None:
        """Post the deal's card in its group and remember it as the one to keep current;
        pinned, where the group wants cards pinned."""
        view = await self.store.deals.deal_view(deal.id)
        assert view is not None
        message_id = await self.lines.turn(
            deal.chat_id, partial(self.cards.send, view, deal.chat_id)
        )
        await self.store.deals.set_card(deal.id, message_id)
        await self.pins.pin(deal, message_id)

    async def move_group(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: move its deals over and post their cards anew."""
        deals = await self.store.groups.move_group(old_chat_id, new_chat_id)
        self.cards.forget_groups()
        log.info("group migrated chat=%s to=%s open_deals=%s", old_chat_id, new_chat_id, len(deals))
        for deal in deals:
            try:
                await self.post_card(deal)
            except TelegramError as exc:
                log.warning("card repost failed deal=%s: %s", deal.id, exc)

    async def deal_in_group(self, deal_id: int, chat_id: int) -> Deal:
        """The deal if it belongs to this group, else a UserError saying it is not found."""
        return await self.deal_in_groups(deal_id, (chat_id,))

    async def deal_in_groups(self, deal_id: int, chat_ids: Collection[int]) -> Deal:
        """The deal if it belongs to one of these groups (those a leader leads), else a
        UserError saying it is not found: another group's deal is not theirs to see."""
        deal = await self.store.deals.get_deal(deal_id)
        if deal is None or deal.chat_id not in chat_ids:
            raise UserError("deal_not_found", deal_id=deal_id)
        return deal

    async def deal(self, deal_id: int) -> Deal | None:
        """The deal, wherever it is (callers check who may see it)."""
        return await self.store.deals.get_deal(deal_id)

    async def view(self, deal_id: int) -> DealView | None:
        """Everything the deal's card shows."""
        return await self.store.deals.deal_view(deal_id)

    async def option(self, option_id: int) -> DealOption | None:
        """One option of a deal."""
        return await self.store.deals.get_option(option_id)

    async def open_deals(self, chat_id: int) -> list[Deal]:
        """The group's open deals."""
        return await self.store.deals.open_deals(chat_id)

    async def shown_deals(self, chat_id: int) -> list[Deal]:
        """Other groups' open deals this group shows (/share), with the card it shows."""
        return await self.store.spread.shown_in(chat_id)

    async def change_options(self, deal: Deal, options: tuple[Any, ...]) -> None:
        """New options for a deal nobody has ordered from yet (a UserError once someone
        has: prices are promises); the card shows them."""
        await self.store.deals.replace_options(deal.id, options)
        self.cards.refresh(deal)

    async def orders_of(self, user_id: int) -> list[OrderRow]:
        """A member's latest orders across groups (/orders)."""
        return await self.store.orders.orders_of_member(user_id)

    # -- taps -------------------------------------------------------------------------

    async def join(
        self,
        deal_id: int,
        member: Member,
        tap_id: str | None = None,
        option_id: int | None = None,
        offer_id: int | None = None,
        via_chat_id: int | None = None,
        referrer: int | None = None,
    ) -> JoinOutcome:
        """One more unit for the member (raises UserError with the reason if not);
        `via_chat_id`: the further group whose card was tapped; `referrer`: who shared
        the copy tapped (see RoundsRepo.join_round)."""
        if (answer := self._ended.get(deal_id)) is None and deal_id not in self._open_seen:
            # Read beside the writer first: a deal that has ended is answered without
            # waiting for the write lock, which another process (a backup) may hold.
            # Once read open, a deal is not read again for each tap: if it ends, the write
            # says so (and this process notes it in _ended).
            deal = await self.store.deals.get_deal(deal_id)
            answer = self._ended_answer(deal)
            now = self.clock.timestamp()
            if answer is None and deal is not None and deal.starts_at and deal.opens_later(now):
                # A timed sale before its start: refused beside the writer, too (the write
                # would refuse it all the same).
                raise rounds.not_started(deal.starts_at, now)
            if answer is None:
                self._open_seen.add(deal_id)
        if answer is not None:
            raise UserError(answer)  # a closed deal never reopens: no need to ask the store
        try:
            outcome = await self.store.rounds.join_round(
                deal_id,
                member,
                self.clock.timestamp(),
                tap_id,
                option_id,
                offer_id,
                via_chat_id,
                referrer,
            )
        except UserError as error:
            if error.template in ("tap_sold_out", "tap_closed"):
                self._ended_answer(await self.store.deals.get_deal(deal_id))
            raise
        if outcome.deal.status is not DealStatus.OPEN:
            self._ended_answer(outcome.deal)  # this tap ended it: the next are told at once
            self._spawn(self.pins.unpin(outcome.deal))
        self.cards.refresh(outcome.deal)
        if outcome.tipped:
            self._spawn(self.notify.tipped(outcome.deal))
        if outcome.closed:
            self.metrics.round_closed(outcome.closed)
            self._spawn(self.notify.closed(outcome.closed))
        if outcome.needs_pickup:
            self._spawn(self.ask_pickup(outcome.deal, member))
        if outcome.offers:
            self._spawn(self.waitlist.send_offers(outcome.offers))
        return outcome

    def _ended_answer(self, deal: Deal | None) -> str | None:
        """Why a deal that has ended takes no more taps (remembered), or None if open."""
        if deal is None or deal.status is DealStatus.OPEN:
            return None
        answer = self._ended[deal.id] = rounds.ended_answer(deal.status, deal.stock, deal.taken)
        self._open_seen.discard(deal.id)
        return answer

    async def leave(self, deal_id: int, member: Member, tap_id: str | None = None) -> LeaveOutcome:
        """Withdraw the member's order from the open round."""
        outcome = await self.store.rounds.leave_round(
            deal_id, member.user_id, self.clock.timestamp(), tap_id
        )
        self.cards.refresh(outcome.deal)
        if outcome.offers:
            self._spawn(self.waitlist.send_offers(outcome.offers))
        return outcome

    # -- pickup points, the waitlist, payments -----------------------------------------

    async def ask_pickup(self, deal: Deal, member: Member) -> None:
        """Ask the member privately where they will collect the deal."""
        points = await self.store.deals.deal_pickups(deal)
        lang = await self.languages.of(member)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        point.name,
                        callback_data=callbacks.DEAL.data(callbacks.Action.PICK, deal.id, point.id),
                    )
                ]
                for point in points
            ]
        )
        text = self.texts.render("pickup_question", lang, deal=deal)
        await self.notify.send_private_markup(member.user_id, text, markup)

    async def choose_pickup(self, deal_id: int, member: Member, pickup_id: int) -> str:
        """Record the member's pickup point for the deal; the point's name."""
        deal = await self.store.deals.get_deal(deal_id)
        points = await self.store.deals.deal_pickups(deal) if deal else []
        point = next((p for p in points if p.id == pickup_id), None)
        if (
            deal is None
            or point is None
            or not await self.store.rounds.choose_pickup(deal_id, member.user_id, pickup_id)
        ):
            raise UserError("tap_stale")
        return point.name

    # -- closing ----------------------------------------------------------------------

    async def close_due(self, deal_id: int) -> None:
        """The deadline came: close the deal (a no-op if it is already closed)."""
        async with self._closing:
            closed = await self.store.rounds.close_due(deal_id, self.clock.timestamp())
        await self._after_close(deal_id, closed)

    async def close(self, deal: Deal, choice: rounds.CloseChoice | None) -> ClosedRound | None:
        """The leader ends the deal now."""
        closed = await self.store.rounds.close_deal(deal.id, self.clock.timestamp(), choice)
        await self._after_close(deal.id, closed)
        return closed

    async def _after_close(self, deal_id: int, closed: ClosedRound | None) -> None:
        self.deadlines.disarm(deal_id)
        self._open_seen.discard(deal_id)  # the next tap reads how it stands
        deal = closed.deal if closed else await self.store.deals.get_deal(deal_id)
        if deal is not None and deal.status is not DealStatus.OPEN:
            self._spawn(self.pins.unpin(deal))
        if closed is not None:
            log.info(
                "round closed deal=%s round=%s status=%s members=%s",
                deal_id,
                closed.round.number,
                closed.round.status,
                len(closed.lines),
            )
            self.metrics.round_closed(closed)
            await self.notify.closed(closed)
        elif deal is not None:
            self.cards.refresh(deal)

    async def send_owed_notices(self) -> None:
        """The sweep: formed rounds whose worker was killed before their messages all
        went (its lease ran out) send what they still owe, in the background."""
        for owed in await self.notify.owed():
            log.info(
                "round's messages taken over deal=%s round=%s announce=%s confirmations=%s",
                owed.closed.deal.id,
                owed.closed.round.number,
                owed.announce,
                len(owed.confirm),
            )
            self._spawn(
                self.notify.closed(owed.closed, announce=owed.announce, confirm=owed.confirm)
            )

    async def cancel(self, deal: Deal) -> CancelledDeal | None:
        """Cancel the deal whole and tell every member who had an order."""
        cancelled = await self.store.rounds.cancel_deal(deal.id, self.clock.timestamp())
        if cancelled is None:
            return None
        self.deadlines.disarm(deal.id)
        self._open_seen.discard(deal.id)
        log.info("deal cancelled deal=%s orders=%s", deal.id, len(cancelled.lines))
        self.metrics.deal_cancelled(cancelled)
        self.cards.refresh(deal)
        self._spawn(self.pins.unpin(cancelled.deal))
        self._spawn(self.notify.cancelled(cancelled))
        if cancelled.refunds_due:
            self._spawn(self.payments.tell_refunds(cancelled.deal))
        return cancelled

    async def open_due(self, deal_id: int) -> None:
        """A timed sale's start came: its card gets the Join button and the group hears it
        is open, once (whichever worker or timer gets here first)."""
        if not await self.store.deals.mark_opened(deal_id, self.clock.timestamp()):
            return
        deal = await self.store.deals.get_deal(deal_id)
        if deal is None:
            return
        log.info("timed sale opened deal=%s", deal_id)
        self.cards.refresh(deal)
        await self.notify.opened(deal)

    async def remind(self, deal_id: int) -> None:
        """Shortly before the deadline, tell the group how many more members are needed."""
        view = await self.store.deals.deal_view(deal_id)
        if view is None or view.deal.status is not DealStatus.OPEN or view.open_round is None:
            return
        missing = view.deal.min_members - view.members
        if missing <= 0 or (view.deal.mode == "tipping" and view.open_round.tipped_at):
            return
        if not await self.store.deals.mark_reminded(deal_id, view.open_round.number):
            return
        left = max(0, view.deal.deadline - self.clock.timestamp())
        for group in await self.notify.groups_showing(view.deal):
            await self.notify.send_group(
                group,
                "reminder",
                deal=view.deal,
                missing=missing,
                left=split_duration(left),
            )
