"""Who hears what: group messages on each group's line, private messages to members,
and the announcements a round or a deal makes when it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError

from bot.clock import Clock
from bot.core import callbacks
from bot.core.languages import DEFAULT_LANGUAGE
from bot.core.models import CancelledDeal, ClosedRound, Deal, Group, Line, Member, RoundStatus
from bot.grouplines import GroupLines
from bot.priority import TapsFirst
from bot.services.cards import DealCards
from bot.services.languages import Languages
from bot.texts import Texts, split_message
from storage.repos.notices import NOTICE_LEASE, Owed
from storage.store import Store

log = logging.getLogger(__name__)


class Notifier:
    """Renders templates and sends them: to a group on its line (its turn shared with the
    deal cards), to members privately, giving way to taps in a rush."""

    def __init__(
        self,
        *,
        store: Store,
        texts: Texts,
        clock: Clock,
        bot: Bot,
        lines: GroupLines,
        cards: DealCards,
        languages: Languages,
    ) -> None:
        self.store = store
        self.texts = texts
        self.clock = clock
        self.bot = bot
        # Each group's line of messages (Outbound's): the card and the texts take turns.
        self.lines = lines
        self.cards = cards
        self.languages = languages
        self.taps = TapsFirst()
        # Sends a confirmed order's invoice (Payments.send_invoice), for groups with pay on.
        self.invoices: Callable[[int, str], Awaitable[bool]] | None = None
        # The formed rounds whose messages this worker is sending (their leases renewed).
        self.sending: set[int] = set()

    # -- announcements ----------------------------------------------------------------

    async def tipped(self, deal: Deal) -> None:
        """A tipping deal reached its minimum: say so in each group that shows it."""
        for group in await self.groups_showing(deal):
            await self.send_group(group, "deal_tipped", deal=deal, tz=group.tz)

    async def opened(self, deal: Deal) -> None:
        """A timed sale opened: one message in each group that shows it."""
        for group in await self.groups_showing(deal):
            await self.send_group(group, "deal_open_now", deal=deal, tz=group.tz)

    async def closed(
        self,
        closed: ClosedRound,
        *,
        announce: bool = True,
        confirm: Sequence[Line] | None = None,
    ) -> None:
        """Card, one group message, and a private word to each member of the round. A
        formed round's messages are noted as each goes out (storage/repos/notices.py);
        a sweep that took one over sends only what is owed: the announcement if
        `announce`, and the confirmations of `confirm` (every line unless told)."""
        self.cards.refresh(closed.deal)
        formed = closed.round.status is RoundStatus.FORMED
        if formed:
            self.sending.add(closed.round.id)
        try:
            await self._closed(closed, formed, announce, confirm)
        finally:
            self.sending.discard(closed.round.id)

    async def _closed(
        self, closed: ClosedRound, formed: bool, announce: bool, confirm: Sequence[Line] | None
    ) -> None:
        if closed.lines and announce:
            announced = [
                await self.send_group(
                    group,
                    "round_formed" if formed else "round_failed",
                    deal=closed.deal,
                    round=closed.round,
                    lines=closed.lines,
                    units=sum(line.quantity for line in closed.lines),
                    members=len({line.member.user_id for line in closed.lines}),
                    next_round=closed.next_round,
                )
                for group in await self.groups_showing(closed.deal)
            ]
            # The groups hear it first; their members' private messages follow.
            await asyncio.gather(*announced)
            if formed:
                now = self.clock.timestamp()
                await self.store.notices.note_announced(closed.round.id, now, now + NOTICE_LEASE)
        if formed:
            lines = closed.lines if confirm is None else confirm
            await self.confirm_orders(closed.deal, lines, closed.round.closed_at)
            # An empty round ends quietly: nobody is waiting on it.
            await self.store.notices.finish(closed.round.id, self.clock.timestamp())
        elif closed.lines:
            await self.tell_members(closed.deal, closed.lines, "order_cancelled", reason="failed")

    async def owed(self) -> list[Owed]:
        """The sweep: hold on to the rounds this worker is still sending, and take over
        the formed rounds whose lease ran out (their worker was killed) with what each
        still owes."""
        now = self.clock.timestamp()
        await self.store.notices.renew(self.sending, now + NOTICE_LEASE)
        return await self.store.notices.take_over(now, now + NOTICE_LEASE)

    async def cancelled(self, cancelled: CancelledDeal) -> None:
        """The leader cancelled the deal: the group hears it, and each member privately."""
        for group in await self.groups_showing(cancelled.deal):
            await self.send_group(
                group, "deal_cancelled", deal=cancelled.deal, lines=cancelled.lines
            )
        await self.tell_members(
            cancelled.deal, cancelled.lines, "order_cancelled", reason="cancelled"
        )

    async def tell_members(
        self, deal: Deal, lines: Sequence[Line], template: str, **context: Any
    ) -> None:
        """The same message to each member of a round, privately."""
        async for line in self.giving_way(lines):
            await self.send_private(
                line.member, template, deal=deal, quantity=line.quantity, **context
            )

    async def giving_way(self, lines: Sequence[Line]) -> AsyncIterator[Line]:
        """The round's lines one at a time, each after a lull in the taps (one deadline for
        the round). One at a time, not gathered, stays well inside the flood limits."""
        deadline = self.taps.deadline()
        for line in lines:
            await self.taps.lull(deadline)
            yield line

    async def confirm_orders(
        self, deal: Deal, lines: Sequence[Line], confirmed_at: int | None = None
    ) -> None:
        """Each confirmed order privately: its code, where to collect it, and "I've paid"
        or, where the group takes Telegram Payments, an invoice instead."""
        group = await self.group_of(deal)
        invoices = self.invoices if group.pay == "invoice" else None
        # With a payment window, the time an order still unpaid is released: a window
        # after the round closed (bot.core.paywindow.Awaiting.due_at).
        since = max(confirmed_at or self.clock.timestamp(), group.pay_within_at)
        pay_by = since + group.pay_within if group.pay_within else None
        async for line in self.giving_way(lines):
            lang = await self.languages.of(line.member, group.lang)
            by_hand = group if group.pays_by_hand else None
            text = self.texts.render(
                "order_confirmed",
                lang,
                deal=deal,
                line=line,
                quantity=line.quantity,
                pay=by_hand,
                pay_by=pay_by,
                tz=group.tz,
            )
            markup = None
            if by_hand is not None and group.pay_qr and line.order_id is not None:
                caption = self.texts.render("pay_qr_caption", lang, deal=deal, line=line)
                await self.send_private_photo(line.member.user_id, group.pay_qr, caption)
            if line.order_id is not None and invoices is not None:
                await self.send_private_markup(line.member.user_id, text, None)
                await invoices(line.order_id, lang)
                await self._note_confirmed(line.order_id)
                continue
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
            if line.order_id is not None:
                await self._note_confirmed(line.order_id)

    async def _note_confirmed(self, order_id: int) -> None:
        now = self.clock.timestamp()
        await self.store.notices.note_confirmed(order_id, now, now + NOTICE_LEASE)

    async def groups_showing(self, deal: Deal) -> list[Group]:
        """The deal's group, then each further group that shows it (/share)."""
        groups = [await self.group_of(deal)]
        for shown in await self.store.spread.groups_of(deal.id):
            if shown.card_message_id is not None and (
                group := await self.store.groups.get_group(shown.chat_id)
            ):
                groups.append(group)
        return groups

    async def group_of(self, deal: Deal) -> Group:
        """The settings of the deal's group (its language and time zone)."""
        group = await self.store.groups.get_group(deal.chat_id)
        assert group is not None
        return group

    # -- sending ----------------------------------------------------------------------

    async def send_group(self, group: Group, template: str, **context: Any) -> asyncio.Future[None]:
        """Queue a message for the group, in its language, on its line; the future is
        resolved once it has gone."""
        text = self.texts.render(template, group.lang, now=self.clock.timestamp(), **context)
        return self.lines.post(group.chat_id, text)

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
        group = context.get("group") or context.get("in_group")
        fallback = group.lang if isinstance(group, Group) else DEFAULT_LANGUAGE
        lang = await self.languages.of(member, fallback)
        text = self.texts.render(template, lang, now=self.clock.timestamp(), **context)
        return await _delivered(member.user_id, template, self.send_text(member.user_id, text))

    async def send_private_markup(
        self, user_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        """Send a rendered text with buttons privately; False if it could not be."""
        return await _delivered(user_id, "message", self.send_text(user_id, text, markup))

    async def send_private_photo(self, user_id: int, photo: str, caption: str) -> bool:
        """Send a photo (a file_id) with a rendered caption privately; False if it could
        not be (the text that follows still goes)."""
        return await _delivered(
            user_id, "photo", self.bot.send_photo(user_id, photo, caption=caption)
        )


async def _delivered(user_id: int, what: str, sending: Awaitable[object]) -> bool:
    """Whether a private send went through: a member who never started the bot, or any
    other refusal, is logged and skipped, never raised."""
    try:
        await sending
    except Forbidden:
        log.debug("member %s has not started the bot; skipped", user_id)
        return False
    except TelegramError as exc:
        log.warning("private %s failed user=%s: %s", what, user_id, exc)
        return False
    return True
