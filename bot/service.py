"""The group-buy service: store, rules and templates put to work, and Telegram told about it.

Handlers and the scheduler call this; it is the one place that decides who hears what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
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
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import callbacks, currency, rounds
from bot.cards import CardRefresher
from bot.clock import Clock
from bot.config import Settings
from bot.errors import UserError
from bot.forms import parse_deal_form
from bot.links import Links
from bot.models import (
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
    RoundStatus,
)
from bot.scheduler import Deadlines
from bot.texts import (
    CAPTION_LIMIT,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    MESSAGE_LIMIT,
    Texts,
    language_for,
    split_duration,
    utf16_len,
)
from storage.sqlite import Store

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.texts = texts
        self.clock = clock
        self.bot = bot
        self.links = Links(settings.telegram.token.get_secret_value().encode())
        self.cards = CardRefresher(self._edit_card, settings.telegram.card_edit_interval)
        self.deadlines = Deadlines(
            clock,
            store,
            on_due=self.close_due,
            on_remind=self.remind,
            remind_before=settings.deals.reminder_before_minutes * 60,
        )
        self._background: set[asyncio.Task[None]] = set()

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
        await self.cards.flush()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run notifications in the background so that a tap's answer never waits on them."""
        task = asyncio.create_task(work)
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

    # -- members and referrals --------------------------------------------------------

    async def find_member(self, who: str) -> Member | None:
        """A member named by @username or user id."""
        text = who.strip()
        if text.isdigit():
            return await self.store.get_member(int(text))
        return await self.store.member_by_username(text.lstrip("@"))

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
        message_id = await self.send_card(view, deal.chat_id)
        await self.store.set_card(deal.id, message_id)

    async def move_group(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: move its deals over and post their cards anew."""
        deals = await self.store.move_group(old_chat_id, new_chat_id)
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

    async def join(self, deal_id: int, member: Member, tap_id: str | None = None) -> JoinOutcome:
        """One more unit for the member (raises UserError with the reason if not)."""
        outcome = await self.store.join_round(deal_id, member, self.clock.timestamp(), tap_id)
        self.cards.request(deal_id)
        if outcome.tipped:
            self._spawn(self._announce_tipped(outcome.deal))
        if outcome.closed:
            self._spawn(self._announce_closed(outcome.closed))
        return outcome

    async def leave(self, deal_id: int, member: Member, tap_id: str | None = None) -> LeaveOutcome:
        """Withdraw the member's order from the open round."""
        outcome = await self.store.leave_round(
            deal_id, member.user_id, self.clock.timestamp(), tap_id
        )
        self.cards.request(deal_id)
        return outcome

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
        if closed is not None:
            log.info(
                "round closed deal=%s round=%s status=%s members=%s",
                deal_id,
                closed.round.number,
                closed.round.status,
                len(closed.lines),
            )
            await self._announce_closed(closed)
        else:
            self.cards.request(deal_id)

    async def cancel(self, deal: Deal) -> CancelledDeal | None:
        """Cancel the deal whole and tell every member who had an order."""
        cancelled = await self.store.cancel_deal(deal.id, self.clock.timestamp())
        if cancelled is None:
            return None
        self.deadlines.disarm(deal.id)
        log.info("deal cancelled deal=%s orders=%s", deal.id, len(cancelled.lines))
        self.cards.request(deal.id)
        group = await self._group_of(cancelled.deal)
        await self._send_group(group, "deal_cancelled", deal=cancelled.deal, lines=cancelled.lines)
        await self._tell_members(
            cancelled.deal, cancelled.lines, "order_cancelled", reason="cancelled"
        )
        return cancelled

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
        self.cards.request(closed.deal.id)
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
            await self._tell_members(closed.deal, closed.lines, "order_confirmed")
        else:
            await self._tell_members(closed.deal, closed.lines, "order_cancelled", reason="failed")

    async def _tell_members(
        self, deal: Deal, lines: Sequence[Line], template: str, **context: Any
    ) -> None:
        # We loop instead of gather-ing to stay well inside the flood limits.
        for line in lines:
            await self.send_private(
                line.member, template, deal=deal, quantity=line.quantity, **context
            )

    async def _group_of(self, deal: Deal) -> Group:
        group = await self.store.get_group(deal.chat_id)
        assert group is not None
        return group

    # -- sending ----------------------------------------------------------------------

    async def _send_group(self, group: Group, template: str, **context: Any) -> None:
        text = self.texts.render(template, group.lang, now=self.clock.timestamp(), **context)
        try:
            await self.bot.send_message(group.chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.warning(
                "group message failed chat=%s template=%s: %s", group.chat_id, template, exc
            )

    async def send_private(self, member: Member, template: str, **context: Any) -> bool:
        """Message a member privately; False (and no error) if they never started the bot."""
        lang = language_for(member.language_code)
        text = self.texts.render(template, lang, now=self.clock.timestamp(), **context)
        try:
            await self.bot.send_message(member.user_id, text, parse_mode=ParseMode.HTML)
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

    def render_card(self, view: DealView) -> tuple[str, InlineKeyboardMarkup | None]:
        """The card's text and buttons, shortened to fit Telegram's limits."""
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
        return text, self._buttons(view)

    def _buttons(self, view: DealView) -> InlineKeyboardMarkup | None:
        if view.deal.status is not DealStatus.OPEN:
            return None
        lang = view.group.lang
        deal_id = view.deal.id
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        self.texts.label("join", lang),
                        callback_data=callbacks.encode(callbacks.Action.JOIN, deal_id),
                    ),
                    InlineKeyboardButton(
                        self.texts.label("leave", lang),
                        callback_data=callbacks.encode(callbacks.Action.LEAVE, deal_id),
                    ),
                ],
                [
                    InlineKeyboardButton(
                        self.texts.label("invite", lang),
                        callback_data=callbacks.encode(callbacks.Action.INVITE, deal_id),
                    )
                ],
            ]
        )

    async def _edit_card(self, deal_id: int) -> None:
        view = await self.store.deal_view(deal_id)
        if view is None or view.deal.card_message_id is None:
            return
        await self.show_card(view, view.deal.chat_id, view.deal.card_message_id)

    async def show_card(self, view: DealView, chat_id: int, message_id: int) -> None:
        """Edit a message showing the deal's card to the current state."""
        text, markup = self.render_card(view)
        try:
            if view.deal.photo_file_id:
                await self.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            else:
                await self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
        except BadRequest as exc:
            if NOT_MODIFIED not in exc.message:
                raise

    async def send_card(self, view: DealView, chat_id: int) -> int:
        """Post the deal's card in a chat (the group, or privately from a deep link)."""
        text, markup = self.render_card(view)
        if view.deal.photo_file_id:
            message = await self.bot.send_photo(
                chat_id,
                view.deal.photo_file_id,
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        else:
            message = await self.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        return message.message_id
