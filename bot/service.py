"""The group-buy service: store, rules and templates put to work, and Telegram told about it.

Handlers and the scheduler call this; it is the one place that decides who hears what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.error import Forbidden, TelegramError

from bot.cards import DealCards
from bot.clock import Clock
from bot.config import Settings
from bot.core import callbacks, currency, rounds
from bot.core.errors import UserError
from bot.core.forms import parse_deal_form
from bot.core.links import Links
from bot.core.models import (
    CancelledDeal,
    ClosedRound,
    Deal,
    DealStatus,
    Group,
    JoinOutcome,
    LeaveOutcome,
    Line,
    Member,
    RoundStatus,
)
from bot.outbound import GroupLines
from bot.payments import Payments
from bot.priority import TapsFirst
from bot.scheduler import Deadlines
from bot.texts import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Texts,
    language_for,
    split_duration,
    split_message,
)
from bot.waitlist import Waitlist
from storage.store import Store

log = logging.getLogger(__name__)


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
    ) -> None:
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
            remind_before=settings.deals.reminder_before_minutes * 60,
            tick_seconds=settings.deals.sweep_seconds,
        )
        self._create_task = spawn
        self._background: set[asyncio.Task[None]] = set()
        # The answer to every further Join on a deal that has ended (sold out or closed):
        # in a flash sale most taps come after the last unit, and none needs the store.
        self._ended: dict[int, str] = {}
        self._open_seen: set[int] = set()
        self.payments = Payments(self)
        self.waitlist = Waitlist(self)
        self.cards = DealCards(
            store=store, texts=texts, clock=clock, bot=bot, links=self.links, lines=lines
        )
        self.taps = TapsFirst()

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Close what fell due while we were down, arm every future deadline, set the menus."""
        await self.deadlines.start()
        await self.register_commands()

    async def register_commands(self) -> None:
        """Command menus per scope (members, group admins, private chats) and language."""
        scopes = (
            ("group_member", BotCommandScopeAllGroupChats()),
            ("group_leader", BotCommandScopeAllChatAdministrators()),
            ("private", BotCommandScopeAllPrivateChats()),
        )
        for lang in LANGUAGES:
            menus = self.texts.catalogue("commands", lang)
            for name, scope in scopes:
                commands = [BotCommand(c, d) for c, d in getattr(menus, name)]
                code = None if lang == DEFAULT_LANGUAGE else lang
                try:
                    await self.bot.set_my_commands(commands, scope=scope, language_code=code)
                except TelegramError as exc:
                    log.warning("command menu not set scope=%s lang=%s: %s", name, lang, exc)

    async def stop(self) -> None:
        """Stop the timers, then finish the notifications and card edits under way."""
        self.deadlines.shutdown()
        await self.settle()

    async def settle(self) -> None:
        """Wait for background notifications, then make pending card edits now."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.lines.flush()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run notifications in the background so that a tap's answer never waits on them
        (the application's tasks: a failure reaches the error handler, and stopping waits
        for them)."""
        task = self._create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def forget_old_deliveries(self) -> None:
        """Telegram redelivers an update for a day at most; older records can go."""
        await self.store.deliveries.forget_deliveries(self.clock.timestamp() - 2 * 86400)

    # -- groups -----------------------------------------------------------------------

    async def group(self, chat_id: int, title: str | None) -> Group:
        """The group's settings, created with the operator's defaults on first sight."""
        return await self.store.groups.ensure_group(
            chat_id,
            title or "",
            tz=self.settings.timezone,
            currency=self.settings.currency,
            lang="en",
            now=self.clock.timestamp(),
        )

    async def is_leader(self, chat_id: int, user_id: int) -> bool:
        """Configured leaders, the group's administrators and its named leaders lead it."""
        if user_id in self.settings.leaders:
            return True
        if await self.store.groups.is_group_leader(chat_id, user_id):
            return True
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("leader check failed chat=%s user=%s: %s", chat_id, user_id, exc)
            return False
        return member.status in ("creator", "administrator")

    async def in_group_now(self, chat_id: int, user_id: int) -> bool:
        """Whether Telegram says the user is in the group; False when it cannot tell."""
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("membership check failed chat=%s user=%s: %s", chat_id, user_id, exc)
            return False
        return member.status in ("creator", "administrator", "member", "restricted")

    async def leaders_of(self, chat_id: int) -> list[int]:
        """Everyone who leads the group in person: configured leaders, its human
        administrators and the leaders it named."""
        ids = list(self.settings.leaders)
        try:
            admins = await self.bot.get_chat_administrators(chat_id)
        except TelegramError as exc:
            log.warning("cannot list admins chat=%s: %s", chat_id, exc)
            admins = ()
        ids += [admin.user.id for admin in admins if not admin.user.is_bot]
        ids += [member.user_id for member in await self.store.groups.group_leaders(chat_id)]
        return list(dict.fromkeys(ids))

    # -- members and referrals --------------------------------------------------------

    async def find_member(self, who: str) -> Member | None:
        """A member named by @username or user id."""
        text = who.strip()
        if text.isascii() and text.isdigit():
            # Longer than any Telegram user id: nobody (and past a 64-bit column).
            return await self.store.groups.get_member(int(text)) if len(text) <= 15 else None
        return await self.store.groups.member_by_username(text.lstrip("@"))

    async def remember(self, member: Member) -> None:
        """Save a member's name and language when new or changed, in the background: the
        update that showed them is answered without waiting for the write lock."""
        if await self.store.groups.get_member(member.user_id) != member:
            self._spawn(self.store.groups.save_member(member, self.clock.timestamp()))

    def invite_link(self, bot_username: str, deal_id: int, user_id: int) -> str:
        """A member's personal, signed invite link to a deal."""
        return f"https://t.me/{bot_username}?start={self.links.referral(deal_id, user_id)}"

    async def follow_invite(self, deal: Deal, referee: Member, referrer_id: int) -> str:
        """Someone opened a friend's invite link: attribute them if the rules allow it."""
        await self.store.groups.save_member(referee, self.clock.timestamp())
        verdict = await self.store.ledger.attribute(
            deal.chat_id, referee.user_id, referrer_id, deal.id, self.clock.timestamp()
        )
        log.info(
            "invite followed deal=%s referee=%s referrer=%s: %s",
            deal.id,
            referee.user_id,
            referrer_id,
            verdict,
        )
        return str(verdict)

    # -- deals ------------------------------------------------------------------------

    async def post_deal(
        self, group: Group, leader: Member, body: str, photo_file_id: str | None
    ) -> Deal:
        """Parse the form, store the deal, post its card and arm its deadline.

        Raises FormError (a UserError) for a bad form; nothing is stored then.
        """
        form = parse_deal_form(
            body,
            now=self.clock.now(),
            tz=ZoneInfo(group.tz),
            money_digits=currency.digits(group.currency),
        )
        deal = await self.store.deals.create_deal(
            chat_id=group.chat_id,
            leader=leader,
            form=form,
            photo_file_id=photo_file_id,
            currency=group.currency,
            now=self.clock.timestamp(),
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
        """Post the deal's card in its group and remember it as the one to keep current."""
        view = await self.store.deals.deal_view(deal.id)
        assert view is not None
        message_id = await self.lines.turn(
            deal.chat_id, partial(self.cards.send, view, deal.chat_id)
        )
        await self.store.deals.set_card(deal.id, message_id)

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
        deal = await self.store.deals.get_deal(deal_id)
        if deal is None or deal.chat_id != chat_id:
            raise UserError("deal_not_found", deal_id=deal_id)
        return deal

    async def open_deals(self, chat_id: int) -> list[Deal]:
        """The group's open deals."""
        return await self.store.deals.open_deals(chat_id)

    # -- taps -------------------------------------------------------------------------

    async def join(
        self,
        deal_id: int,
        member: Member,
        tap_id: str | None = None,
        option_id: int | None = None,
        offer_id: int | None = None,
    ) -> JoinOutcome:
        """One more unit for the member (raises UserError with the reason if not)."""
        if (answer := self._ended.get(deal_id)) is None and deal_id not in self._open_seen:
            # Read beside the writer first: a deal that has ended is answered without
            # waiting for the write lock, which another process (a backup) may hold.
            # Once read open, a deal is not read again for each tap: if it ends, the write
            # says so (and this process notes it in _ended).
            answer = self._ended_answer(await self.store.deals.get_deal(deal_id))
            if answer is None:
                self._open_seen.add(deal_id)
        if answer is not None:
            raise UserError(answer)  # a closed deal never reopens: no need to ask the store
        try:
            outcome = await self.store.rounds.join_round(
                deal_id, member, self.clock.timestamp(), tap_id, option_id, offer_id
            )
        except UserError as error:
            if error.template in ("tap_sold_out", "tap_closed"):
                self._ended_answer(await self.store.deals.get_deal(deal_id))
            raise
        if outcome.deal.status is not DealStatus.OPEN:
            self._ended_answer(outcome.deal)  # this tap ended it: the next are told at once
        self.cards.refresh(outcome.deal)
        if outcome.tipped:
            self._spawn(self._announce_tipped(outcome.deal))
        if outcome.closed:
            self._spawn(self._announce_closed(outcome.closed))
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
        lang = language_for(member.language_code)
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
        await self.send_private_markup(member.user_id, text, markup)

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
        if closed is not None:
            log.info(
                "round closed deal=%s round=%s status=%s members=%s",
                deal_id,
                closed.round.number,
                closed.round.status,
                len(closed.lines),
            )
            await self._announce_closed(closed)
        elif (deal := await self.store.deals.get_deal(deal_id)) is not None:
            self.cards.refresh(deal)

    async def cancel(self, deal: Deal) -> CancelledDeal | None:
        """Cancel the deal whole and tell every member who had an order."""
        cancelled = await self.store.rounds.cancel_deal(deal.id, self.clock.timestamp())
        if cancelled is None:
            return None
        self.deadlines.disarm(deal.id)
        self._open_seen.discard(deal.id)
        log.info("deal cancelled deal=%s orders=%s", deal.id, len(cancelled.lines))
        self.cards.refresh(deal)
        self._spawn(self._announce_cancelled(cancelled))
        return cancelled

    async def _announce_cancelled(self, cancelled: CancelledDeal) -> None:
        group = await self._group_of(cancelled.deal)
        await self._send_group(group, "deal_cancelled", deal=cancelled.deal, lines=cancelled.lines)
        await self._tell_members(
            cancelled.deal, cancelled.lines, "order_cancelled", reason="cancelled"
        )

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
        await self._send_group(
            view.group,
            "reminder",
            deal=view.deal,
            missing=missing,
            left=split_duration(left),
        )

    # -- announcements ----------------------------------------------------------------

    async def _announce_tipped(self, deal: Deal) -> None:
        group = await self._group_of(deal)
        await self._send_group(group, "deal_tipped", deal=deal, tz=group.tz)

    async def _announce_closed(self, closed: ClosedRound) -> None:
        """Card, one group message, and a private word to each member of the round."""
        self.cards.refresh(closed.deal)
        if not closed.lines:
            return  # an empty round ends quietly: nobody is waiting on it
        group = await self._group_of(closed.deal)
        formed = closed.round.status is RoundStatus.FORMED
        await self._send_group(
            group,
            "round_formed" if formed else "round_failed",
            deal=closed.deal,
            round=closed.round,
            lines=closed.lines,
            units=sum(line.quantity for line in closed.lines),
            next_round=closed.next_round,
        )
        if formed:
            await self._confirm_orders(closed.deal, closed.lines)
        else:
            await self._tell_members(closed.deal, closed.lines, "order_cancelled", reason="failed")

    async def _tell_members(
        self, deal: Deal, lines: Sequence[Line], template: str, **context: Any
    ) -> None:
        async for line in self._giving_way(lines):
            await self.send_private(
                line.member, template, deal=deal, quantity=line.quantity, **context
            )

    async def _giving_way(self, lines: Sequence[Line]) -> AsyncIterator[Line]:
        """The round's lines one at a time, each after a lull in the taps (one deadline for
        the round). One at a time, not gathered, stays well inside the flood limits."""
        deadline = self.taps.deadline()
        for line in lines:
            await self.taps.lull(deadline)
            yield line

    async def _confirm_orders(self, deal: Deal, lines: Sequence[Line]) -> None:
        """Each confirmed order privately: its code, where to collect it, "I've paid"."""
        async for line in self._giving_way(lines):
            lang = language_for(line.member.language_code)
            text = self.texts.render(
                "order_confirmed", lang, deal=deal, line=line, quantity=line.quantity
            )
            markup = None
            if line.order_id is not None:
                markup = InlineKeyboardMarkup(
                    [
                        [
                            InlineKeyboardButton(
                                self.texts.label("i_paid", lang),
                                callback_data=callbacks.PAYMENTS.data(
                                    callbacks.Action.I_PAID, line.order_id
                                ),
                            )
                        ]
                    ]
                )
            await self.send_private_markup(line.member.user_id, text, markup)

    async def send_private_markup(
        self, user_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        try:
            await self.send_text(user_id, text, markup)
        except Forbidden:
            log.debug("member %s has not started the bot; skipped", user_id)
            return False
        except TelegramError as exc:
            log.warning("private message failed user=%s: %s", user_id, exc)
            return False
        return True

    async def _group_of(self, deal: Deal) -> Group:
        group = await self.store.groups.get_group(deal.chat_id)
        assert group is not None
        return group

    # -- sending ----------------------------------------------------------------------

    async def _send_group(self, group: Group, template: str, **context: Any) -> None:
        text = self.texts.render(template, group.lang, now=self.clock.timestamp(), **context)
        self.lines.post(group.chat_id, text)

    async def post_group_text(self, chat_id: int, text: str) -> None:
        """Post a text in a group now (its line calls this when the text's turn comes)."""
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramError as exc:
            log.warning("group message failed chat=%s: %s", chat_id, exc)

    async def send_text(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Send a text that may list many things: cut between lines into messages within
        Telegram's limit, the buttons under the last one."""
        chunks = split_message(text)
        for n, chunk in enumerate(chunks, 1):
            await self.bot.send_message(
                chat_id, chunk, reply_markup=markup if n == len(chunks) else None
            )

    async def send_private(self, member: Member, template: str, /, **context: Any) -> bool:
        """Message a member privately; False (and no error) if they never started the bot."""
        lang = language_for(member.language_code)
        text = self.texts.render(template, lang, now=self.clock.timestamp(), **context)
        try:
            await self.send_text(member.user_id, text)
        except Forbidden:
            log.debug("member %s has not started the bot; skipped", member.user_id)
            return False
        except TelegramError as exc:
            log.warning(
                "private message failed user=%s template=%s: %s", member.user_id, template, exc
            )
            return False
        return True
