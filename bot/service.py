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
from telegram.error import BadRequest, Forbidden, TelegramError

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
    DealView,
    Group,
    JoinOutcome,
    LeaveOutcome,
    Line,
    Member,
    Offer,
    OrderRow,
    RoundStatus,
)
from bot.outbound import GroupLines
from bot.priority import TapsFirst
from bot.scheduler import Deadlines
from bot.texts import (
    CAPTION_LIMIT,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    MESSAGE_LIMIT,
    Texts,
    language_for,
    split_duration,
    split_message,
    utf16_len,
)
from storage.store import Store

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"
# Telegram's stand-ins for a person: an administrator posting as the group
# (GroupAnonymousBot) and a post on behalf of a channel (Channel_Bot). A deal one of them
# posted has no person to ask, so the group's leaders are asked instead.
ANONYMOUS_SENDERS = frozenset({1087968824, 136817688})
DEAL_GROUPS = 10_000  # deals whose group is remembered for the taps on their cards
# Cards whose last drawing is remembered, to skip edits that would change nothing.
DRAWN_CARDS = 1000

Drawn = tuple[str, InlineKeyboardMarkup | None]


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
        self._deal_groups: dict[int, int] = {}
        self._drawn: dict[tuple[int, int], Drawn] = {}
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
        await self.store.forget_deliveries(self.clock.timestamp() - 2 * 86400)

    # -- groups -----------------------------------------------------------------------

    async def group(self, chat_id: int, title: str | None) -> Group:
        """The group's settings, created with the operator's defaults on first sight."""
        return await self.store.ensure_group(
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
        if await self.store.is_group_leader(chat_id, user_id):
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
        ids += [member.user_id for member in await self.store.group_leaders(chat_id)]
        return list(dict.fromkeys(ids))

    # -- members and referrals --------------------------------------------------------

    async def find_member(self, who: str) -> Member | None:
        """A member named by @username or user id."""
        text = who.strip()
        if text.isascii() and text.isdigit():
            # Longer than any Telegram user id: nobody (and past a 64-bit column).
            return await self.store.get_member(int(text)) if len(text) <= 15 else None
        return await self.store.member_by_username(text.lstrip("@"))

    async def remember(self, member: Member) -> None:
        """Save a member's name and language when new or changed, in the background: the
        update that showed them is answered without waiting for the write lock."""
        if await self.store.get_member(member.user_id) != member:
            self._spawn(self.store.save_member(member, self.clock.timestamp()))

    def invite_link(self, bot_username: str, deal_id: int, user_id: int) -> str:
        """A member's personal, signed invite link to a deal."""
        return f"https://t.me/{bot_username}?start={self.links.referral(deal_id, user_id)}"

    async def follow_invite(self, deal: Deal, referee: Member, referrer_id: int) -> str:
        """Someone opened a friend's invite link: attribute them if the rules allow it."""
        await self.store.save_member(referee, self.clock.timestamp())
        verdict = await self.store.attribute(
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
        deal = await self.store.create_deal(
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
            await self.store.cancel_deal(deal.id, self.clock.timestamp())
            raise
        self.deadlines.arm(deal)
        log.info("deal posted chat=%s deal=%s leader=%s", group.chat_id, deal.id, leader.user_id)
        return deal

    async def post_card(self, deal: Deal) -> None:
        """Post the deal's card in its group and remember it as the one to keep current."""
        view = await self.store.deal_view(deal.id)
        assert view is not None
        message_id = await self.lines.turn(
            deal.chat_id, partial(self.send_card, view, deal.chat_id)
        )
        await self.store.set_card(deal.id, message_id)

    async def move_group(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: move its deals over and post their cards anew."""
        deals = await self.store.move_group(old_chat_id, new_chat_id)
        self._deal_groups.clear()
        log.info("group migrated chat=%s to=%s open_deals=%s", old_chat_id, new_chat_id, len(deals))
        for deal in deals:
            try:
                await self.post_card(deal)
            except TelegramError as exc:
                log.warning("card repost failed deal=%s: %s", deal.id, exc)

    async def deal_in_group(self, deal_id: int, chat_id: int) -> Deal:
        """The deal if it belongs to this group, else a UserError saying it is not found."""
        deal = await self.store.get_deal(deal_id)
        if deal is None or deal.chat_id != chat_id:
            raise UserError("deal_not_found", deal_id=deal_id)
        return deal

    async def open_deals(self, chat_id: int) -> list[Deal]:
        """The group's open deals."""
        return await self.store.open_deals(chat_id)

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
            answer = self._ended_answer(await self.store.get_deal(deal_id))
            if answer is None:
                self._open_seen.add(deal_id)
        if answer is not None:
            raise UserError(answer)  # a closed deal never reopens: no need to ask the store
        try:
            outcome = await self.store.join_round(
                deal_id, member, self.clock.timestamp(), tap_id, option_id, offer_id
            )
        except UserError as error:
            if error.template in ("tap_sold_out", "tap_closed"):
                self._ended_answer(await self.store.get_deal(deal_id))
            raise
        if outcome.deal.status is not DealStatus.OPEN:
            self._ended_answer(outcome.deal)  # this tap ended it: the next are told at once
        self.refresh_card(outcome.deal)
        if outcome.tipped:
            self._spawn(self._announce_tipped(outcome.deal))
        if outcome.closed:
            self._spawn(self._announce_closed(outcome.closed))
        if outcome.needs_pickup:
            self._spawn(self.ask_pickup(outcome.deal, member))
        if outcome.offers:
            self._spawn(self._send_offers(outcome.offers))
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
        outcome = await self.store.leave_round(
            deal_id, member.user_id, self.clock.timestamp(), tap_id
        )
        self.refresh_card(outcome.deal)
        if outcome.offers:
            self._spawn(self._send_offers(outcome.offers))
        return outcome

    # -- pickup points, the waitlist, payments -----------------------------------------

    async def ask_pickup(self, deal: Deal, member: Member) -> None:
        """Ask the member privately where they will collect the deal."""
        points = await self.store.deal_pickups(deal)
        lang = language_for(member.language_code)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        point.name,
                        callback_data=callbacks.encode(callbacks.Action.PICK, deal.id, point.id),
                    )
                ]
                for point in points
            ]
        )
        text = self.texts.render("pickup_question", lang, deal=deal)
        await self._send_private_markup(member.user_id, text, markup)

    async def choose_pickup(self, deal_id: int, member: Member, pickup_id: int) -> str:
        """Record the member's pickup point for the deal; the point's name."""
        deal = await self.store.get_deal(deal_id)
        points = await self.store.deal_pickups(deal) if deal else []
        point = next((p for p in points if p.id == pickup_id), None)
        if (
            deal is None
            or point is None
            or not await self.store.choose_pickup(deal_id, member.user_id, pickup_id)
        ):
            raise UserError("tap_stale")
        return point.name

    async def wait(self, deal_id: int, option_id: int | None, member: Member) -> bool:
        """Put the member on the waitlist for a sold-out deal or option."""
        await self.store.save_member(member, self.clock.timestamp())
        return await self.store.wait_for_unit(
            deal_id, option_id, member.user_id, self.clock.timestamp()
        )

    async def take_offer(self, offer_id: int, member: Member, tap_id: str) -> JoinOutcome:
        """Turn a waitlist offer into an order."""
        found = await self.store.get_offer(offer_id)
        if found is None or found[2] != member.user_id:
            raise UserError("tap_stale")
        deal_id, option_id, _ = found
        return await self.join(deal_id, member, tap_id, option_id, offer_id)

    async def expire_offers(self) -> None:
        """Offers past their time go to the next in line (run by the periodic tick)."""
        offers = await self.store.expire_offers(self.clock.timestamp())
        for deal in {offer.deal.id: offer.deal for offer in offers}.values():
            self.refresh_card(deal)
        await self._send_offers(offers)

    async def restock(self, deal: Deal, units: int, option_id: int | None) -> int:
        """More stock from the leader; the waitlist hears of it first. Offers made."""
        offers = await self.store.restock(deal.id, units, option_id, self.clock.timestamp())
        self.refresh_card(deal)
        await self._send_offers(offers)
        return len(offers)

    async def _send_offers(self, offers: Sequence[Offer]) -> None:
        for offer in offers:
            member = await self.store.get_member(offer.user_id)
            lang = language_for(member.language_code if member else None)
            text = self.texts.render(
                "waitlist_offer",
                lang,
                deal=offer.deal,
                option=offer.option,
                expires_at=offer.expires_at,
                now=self.clock.timestamp(),
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.texts.label("take_offer", lang),
                            callback_data=callbacks.encode(
                                callbacks.Action.TAKE, offer.waitlist_id
                            ),
                        )
                    ]
                ]
            )
            await self._send_private_markup(offer.user_id, text, markup)

    async def claim_paid(self, order_id: int, member: Member) -> OrderRow:
        """The member says they paid; the deal's leader (for an anonymous admin's deal, the
        group's leaders) is asked to confirm."""
        row = await self.store.claim_paid(order_id, member.user_id, self.clock.timestamp())
        if row.deal.leader_id in ANONYMOUS_SENDERS:
            asked = await self.leaders_of(row.deal.chat_id)
        else:
            asked = [row.deal.leader_id]
        for user_id in asked:
            await self._ask_to_confirm(user_id, row)
        return row

    async def _ask_to_confirm(self, user_id: int, row: OrderRow) -> None:
        leader = await self.store.get_member(user_id)
        lang = language_for(leader.language_code if leader else None)
        order_id = row.order.id
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        self.texts.label("confirm_payment", lang),
                        callback_data=callbacks.encode(callbacks.Action.PAY_OK, order_id),
                    ),
                    InlineKeyboardButton(
                        self.texts.label("reject_payment", lang),
                        callback_data=callbacks.encode(callbacks.Action.PAY_NO, order_id),
                    ),
                ]
            ]
        )
        text = self.texts.render("payment_claimed", lang, row=row)
        await self._send_private_markup(user_id, text, markup)

    async def settle_claim(self, order_id: int, accept: bool, leader_id: int) -> OrderRow:
        """The leader confirms or rejects a payment claim; the member is told."""
        row = await self.store.get_order(order_id)
        if row is None:
            raise UserError("tap_stale")
        if not await self.is_leader(row.deal.chat_id, leader_id):
            raise UserError("tap_not_leader")
        if not await self.store.settle_claim(order_id, accept, leader_id, self.clock.timestamp()):
            raise UserError("tap_claim_settled")
        await self.send_private(
            row.member, "payment_confirmed" if accept else "payment_rejected", row=row
        )
        return row

    async def remind_unpaid(self, chat_id: int) -> tuple[int, int]:
        """Remind each member with unpaid orders privately, once a day: (sent, skipped)."""
        group = await self.store.get_group(chat_id)
        if group is None:
            raise UserError("tap_stale")
        day = self.clock.now().astimezone(ZoneInfo(group.tz)).date().isoformat()
        by_member: dict[int, list[OrderRow]] = {}
        for row in await self.store.unpaid_orders(chat_id):
            by_member.setdefault(row.member.user_id, []).append(row)
        sent = skipped = 0
        for user_id, rows in by_member.items():
            first = await self.store.record_payment_reminder(
                chat_id, user_id, day, self.clock.timestamp()
            )
            if first and await self.send_private(rows[0].member, "payment_reminder", rows=rows):
                sent += 1
            else:
                skipped += 1
        log.info("payment reminders chat=%s sent=%s skipped=%s", chat_id, sent, skipped)
        return sent, skipped

    # -- closing ----------------------------------------------------------------------

    async def close_due(self, deal_id: int) -> None:
        """The deadline came: close the deal (a no-op if it is already closed)."""
        closed = await self.store.close_due(deal_id, self.clock.timestamp())
        await self._after_close(deal_id, closed)

    async def close(self, deal: Deal, choice: rounds.CloseChoice | None) -> ClosedRound | None:
        """The leader ends the deal now."""
        closed = await self.store.close_deal(deal.id, self.clock.timestamp(), choice)
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
        elif (deal := await self.store.get_deal(deal_id)) is not None:
            self.refresh_card(deal)

    async def cancel(self, deal: Deal) -> CancelledDeal | None:
        """Cancel the deal whole and tell every member who had an order."""
        cancelled = await self.store.cancel_deal(deal.id, self.clock.timestamp())
        if cancelled is None:
            return None
        self.deadlines.disarm(deal.id)
        self._open_seen.discard(deal.id)
        log.info("deal cancelled deal=%s orders=%s", deal.id, len(cancelled.lines))
        self.refresh_card(deal)
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
        view = await self.store.deal_view(deal_id)
        if view is None or view.deal.status is not DealStatus.OPEN or view.open_round is None:
            return
        missing = view.deal.min_members - view.members
        if missing <= 0 or (view.deal.mode == "tipping" and view.open_round.tipped_at):
            return
        if not await self.store.mark_reminded(deal_id, view.open_round.number):
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
        self.refresh_card(closed.deal)
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
                                callback_data=callbacks.encode(
                                    callbacks.Action.I_PAID, line.order_id
                                ),
                            )
                        ]
                    ]
                )
            await self._send_private_markup(line.member.user_id, text, markup)

    async def _send_private_markup(
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
        group = await self.store.get_group(deal.chat_id)
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

    # -- the card ---------------------------------------------------------------------

    async def card_tap_allowed(self, deal_id: int, chat_id: int | None, key: int | None) -> bool:
        """Whether a tap on a deal-card button counts where it was made: on a message in
        the deal's own group, or on a card the bot showed in another chat (its buttons
        carry that chat's key). A forged button anywhere else, or a tap whose message is
        unknown, does not. A deal that does not exist counts (the tap is answered stale)."""
        group = await self.deal_group(deal_id)
        if group is None:
            return True
        if chat_id is None:
            return False
        if chat_id == group:
            return True
        return key is not None and key == self.links.card_key(chat_id, deal_id)

    async def deal_group(self, deal_id: int) -> int | None:
        """The chat of the deal's group, or None if there is no such deal (each tap asks:
        remembered, since a deal changes group only when its group becomes a supergroup)."""
        if (chat_id := self._deal_groups.get(deal_id)) is None:
            deal = await self.store.get_deal(deal_id)
            if deal is None:
                return None
            chat_id = self._deal_groups[deal_id] = deal.chat_id
            if len(self._deal_groups) > DEAL_GROUPS:
                del self._deal_groups[next(iter(self._deal_groups))]
        return chat_id

    def render_card(self, view: DealView, chat_id: int | None = None) -> Drawn:
        """The card's text and buttons for a chat (its group's by default), shortened to fit
        Telegram's limits."""
        limit = CAPTION_LIMIT if view.deal.photo_file_id else MESSAGE_LIMIT
        lines = list(view.lines)
        shown = len(lines)
        while True:
            text = self.texts.render(
                "deal_card",
                view.group.lang,
                view=view,
                now=self.clock.timestamp(),
                lines=lines[:shown],
                hidden=len(lines) - shown,
            )
            if utf16_len(text) <= limit or shown == 0:
                break
            # Drop members from the list (not the facts above it) until the card fits.
            shown = max(0, shown - max(1, shown // 4))
        if utf16_len(text) > limit:
            text = self.texts.render(
                "deal_card_short", view.group.lang, view=view, now=self.clock.timestamp()
            )
        return text, self._buttons(view, chat_id)

    def _buttons(self, view: DealView, chat_id: int | None) -> InlineKeyboardMarkup | None:
        """Join (one per option), or "Notify me" where sold out; Leave; Invite.

        Outside the deal's group the buttons carry the key of that chat and deal: a tap
        there counts only on a card the bot itself showed (see `card_tap_allowed`)."""
        if view.deal.status is not DealStatus.OPEN:
            return None
        lang = view.group.lang
        deal = view.deal
        Action = callbacks.Action
        key = None
        if chat_id is not None and chat_id != deal.chat_id:
            key = self.links.card_key(chat_id, deal.id)

        def button(label: str, action: callbacks.Action, target: int) -> InlineKeyboardButton:
            return InlineKeyboardButton(label, callback_data=callbacks.encode(action, target, key))

        deal_sold_out = deal.stock_left is not None and deal.stock_left <= 0
        rows: list[list[InlineKeyboardButton]] = []
        for option in view.options:
            if deal_sold_out or (option.stock_left is not None and option.stock_left <= 0):
                label = self.texts.render("button_notify_option", lang, option=option)
                rows.append([button(label, Action.WAIT_OPTION, option.id)])
            else:
                label = self.texts.render("button_join_option", lang, option=option, deal=deal)
                rows.append([button(label, Action.JOIN_OPTION, option.id)])
        leave = button(self.texts.label("leave", lang), Action.LEAVE, deal.id)
        invite = button(self.texts.label("invite", lang), Action.INVITE, deal.id)
        if view.options:
            rows.append([leave, invite])
        elif deal_sold_out:
            rows += [
                [button(self.texts.label("notify", lang), Action.WAIT, deal.id), leave],
                [invite],
            ]
        else:
            rows += [
                [button(self.texts.label("join", lang), Action.JOIN, deal.id), leave],
                [invite],
            ]
        return InlineKeyboardMarkup(rows)

    def refresh_card(self, deal: Deal) -> None:
        """Have the deal's card show the current state at its group's coming turn: it is
        drawn then, so a burst of taps costs one edit that shows the state of that moment."""
        self.lines.refresh(deal.chat_id, deal.id, partial(self._show_current_card, deal.id))

    async def _show_current_card(self, deal_id: int) -> bool:
        """Draw the card now; False if nothing was sent (the group's turn is given back)."""
        view = await self.store.deal_view(deal_id)
        if view is None or view.deal.card_message_id is None:
            return False
        return await self.show_card(view, view.deal.chat_id, view.deal.card_message_id)

    async def show_card(self, view: DealView, chat_id: int, message_id: int) -> bool:
        """Edit a message showing the deal's card to the current state; False if the
        message already shows it (nothing is sent then)."""
        drawn = self.render_card(view, chat_id)
        if self._drawn.get((chat_id, message_id)) == drawn:
            return False
        text, markup = drawn
        try:
            if view.deal.photo_file_id:
                await self.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=text,
                    reply_markup=markup,
                )
            else:
                await self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
        except BadRequest as exc:
            if NOT_MODIFIED not in exc.message:
                raise
        self._remember_drawn(chat_id, message_id, drawn)
        return True

    def _remember_drawn(self, chat_id: int, message_id: int, drawn: Drawn) -> None:
        """What a card message shows now, so that an edit to the same is never sent."""
        self._drawn.pop((chat_id, message_id), None)
        self._drawn[(chat_id, message_id)] = drawn
        while len(self._drawn) > DRAWN_CARDS:
            del self._drawn[next(iter(self._drawn))]  # the card drawn longest ago

    async def send_card(self, view: DealView, chat_id: int) -> int:
        """Post the deal's card in a chat (the group, or privately from a signed link)."""
        drawn = self.render_card(view, chat_id)
        text, markup = drawn
        if view.deal.photo_file_id:
            message = await self.bot.send_photo(
                chat_id,
                view.deal.photo_file_id,
                caption=text,
                reply_markup=markup,
            )
        else:
            message = await self.bot.send_message(chat_id, text, reply_markup=markup)
        self._remember_drawn(chat_id, message.message_id, drawn)
        return message.message_id
