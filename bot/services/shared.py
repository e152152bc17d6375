"""Shared deal cards: a deal's card sent into any chat through inline mode (`@bot` there, or
the card's Share button), answered like the group card when tapped, and kept current by
its inline_message_id: the latest copies of each deal, a round of edits at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResult,
    InlineQueryResultArticle,
    InlineQueryResultCachedPhoto,
    InputTextMessageContent,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.clock import Clock
from bot.core import callbacks, sharing
from bot.core.links import Links
from bot.core.models import Deal, DealStatus, DealView, Member
from bot.core.sharing import SharedCopy
from bot.grouplines import Pause
from bot.priority import TapsFirst
from bot.services.cards import DealCards, Drawn
from bot.services.groups import Groups
from bot.texts import Texts
from storage.store import Store

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # copies (and their drawings) remembered between taps
JOINS = frozenset({callbacks.Action.JOIN, callbacks.Action.JOIN_OPTION})


class SharedCards:
    """Every copy of a deal card shared into another chat: listed to share, registered when
    sent (or first tapped), its joins attributed to its sharer, and kept current.

    A change to a deal asks for a round of edits of its copies (`refresh`); requests
    before the round starts are one round, drawn when it starts, so a burst of taps costs
    one round showing the state of that moment. A deal gets at most one round per
    `interval`; every edit passes the bot's Outbound, which keeps within 30 a second.
    """

    def __init__(
        self,
        *,
        store: Store,
        texts: Texts,
        clock: Clock,
        bot: Bot,
        links: Links,
        cards: DealCards,
        groups: Groups,
        taps: TapsFirst,
        interval: float,
    ) -> None:
        self.store = store
        self.texts = texts
        self.clock = clock
        self.bot = bot
        self.links = links
        self.cards = cards
        self.groups = groups
        self.taps = taps
        self.interval = interval
        self.live_copies = sharing.LIVE_COPIES
        self._wanted: set[int] = set()  # deals whose copies wait for a round
        self._rounds: dict[int, asyncio.Task[None]] = {}
        self._last_round: dict[int, float] = {}
        self._drawn: dict[str, Drawn] = {}
        self._known: dict[str, SharedCopy] = {}
        self._pause = Pause()

    # -- sharing ----------------------------------------------------------------------

    async def results(
        self, user_id: int, query: str, offset: str
    ) -> tuple[list[InlineQueryResult], str]:
        """What `@bot <query>` lists to this member, and the offset of the next page.

        A signed deal payload (the Share button's) gives that deal while it is open.
        Anything else lists the member's open deals: those of the groups they lead and
        those they have an order in. Never another deal: deal numbers are sequential.
        """
        payload = self.links.parse(query.strip())
        if payload is not None and payload.kind == "deal":
            deal = await self.store.deals.get_deal(payload.deal_id)
            deals = [deal] if deal is not None and deal.status is DealStatus.OPEN else []
            return [result for deal in deals if (result := await self._result(deal))], ""
        start = sharing.page_start(offset)
        led = await self._groups_led(user_id)
        page = sharing.RESULTS_PER_PAGE
        deals = await self.store.shared.shareable_deals(user_id, led, start, page + 1)
        results = [result for deal in deals[:page] if (result := await self._result(deal))]
        return results, sharing.next_offset(start, page, len(deals) > page)

    async def _groups_led(self, user_id: int) -> Collection[int] | None:
        """The groups whose open deals the member may share as a leader (confirmed now);
        None for a configured leader, who leads them all."""
        if user_id in self.groups.settings.leaders:
            return None
        led = []
        for chat_id in await self.store.shared.candidate_groups(user_id):
            if await self.groups.is_leader(chat_id, user_id):
                led.append(chat_id)
        return led

    async def _result(self, deal: Deal) -> InlineQueryResult | None:
        """The deal's card as an inline result: its text (or photo and caption) as its
        group shows it, with the buttons of a shared copy."""
        view = await self.store.deals.deal_view(deal.id)
        if view is None:
            return None
        text, markup = self.cards.render(view, sharing.SHARED_CHAT)
        result_id = sharing.result_id(deal.id)
        if deal.photo_file_id:
            return InlineQueryResultCachedPhoto(
                result_id,
                deal.photo_file_id,
                title=deal.title,
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        return InlineQueryResultArticle(
            result_id,
            deal.title,
            InputTextMessageContent(text, parse_mode=ParseMode.HTML),
            description=self.texts.render("shared_result", view.group.lang, view=view),
            reply_markup=markup,
        )

    async def chosen(self, inline_message_id: str | None, result_id: str, sharer: int) -> None:
        """A member sent a deal's card into a chat: keep the copy current, and remember
        them as its sharer (those who join through it are theirs)."""
        deal_id = sharing.deal_of_result(result_id)
        if inline_message_id is None or deal_id is None:
            return  # a copy without buttons (never ours) has nothing to keep current
        if await self.store.deals.get_deal(deal_id) is None:
            return
        copy = await self.store.shared.add_copy(
            inline_message_id, deal_id, sharer, self.clock.timestamp()
        )
        self._remember(copy)
        log.info("card shared deal=%s sharer=%s", deal_id, sharer)
        self.refresh(deal_id)  # it may be one too many to keep, or already behind

    async def tapped(
        self, inline_message_id: str, tap: callbacks.Tap, member: Member
    ) -> int | None:
        """A tap on a shared copy (its buttons were checked): a copy not seen before is
        kept current from now on. For a Join, the copy's sharer (if known, and not the
        member): the join attributes the member to them first, by the usual rules."""
        deal_id: int | None = tap.target
        if tap.action in (callbacks.Action.JOIN_OPTION, callbacks.Action.WAIT_OPTION):
            option = await self.store.deals.get_option(tap.target)
            deal_id = option.deal_id if option else None
        if deal_id is None or await self.cards.deal_group(deal_id) is None:
            return None  # answered stale by the tap's handler
        copy = self._known.get(inline_message_id)
        if copy is None or copy.sharer_id is None:
            # Read again while its sharer is unknown: another worker may have heard of it.
            copy = await self.store.shared.get_copy(inline_message_id)
        if copy is None:
            # Feedback off (or not yet come): the copy is kept current all the same.
            copy = await self.store.shared.add_copy(
                inline_message_id, deal_id, None, self.clock.timestamp()
            )
        self._remember(copy)
        sharer = copy.sharer_id
        if tap.action not in JOINS or sharer is None or sharer == member.user_id:
            return None
        return sharer

    def _remember(self, copy: SharedCopy) -> None:
        self._known.pop(copy.inline_message_id, None)
        self._known[copy.inline_message_id] = copy
        while len(self._known) > REMEMBERED:
            del self._known[next(iter(self._known))]

    # -- keeping copies current -------------------------------------------------------

    def refresh(self, deal_id: int) -> None:
        """Have the deal's shared copies show its current state at their coming round."""
        self._wanted.add(deal_id)
        if deal_id not in self._rounds:
            self._rounds[deal_id] = asyncio.create_task(
                self._keep_current(deal_id), name=f"shared-cards-{deal_id}"
            )

    async def flush(self) -> None:
        """Make the rounds waiting now, without their pace, and wait for them (tests'
        settle, and shutdown)."""
        async with self._pause.flush():
            while self._rounds:
                await asyncio.gather(*list(self._rounds.values()), return_exceptions=True)

    async def _keep_current(self, deal_id: int) -> None:
        try:
            while deal_id in self._wanted:
                wait = self._last_round.get(deal_id, -self.interval) + self.interval
                await self._pause.sleep(wait - time.monotonic())
                if not self._pause.flushing.is_set():
                    await self.taps.lull()  # a rush's taps are answered first
                self._wanted.discard(deal_id)
                self._last_round[deal_id] = time.monotonic()
                try:
                    await self._round(deal_id)
                except Exception:
                    log.exception("shared cards round failed deal=%s", deal_id)
        finally:
            del self._rounds[deal_id]
            if len(self._last_round) > REMEMBERED:
                del self._last_round[next(iter(self._last_round))]

    async def _round(self, deal_id: int) -> None:
        """Draw the deal's latest copies as it stands now; retire the older ones."""
        copies = await self.store.shared.live_copies(deal_id)
        if not copies:
            return
        view = await self.store.deals.deal_view(deal_id)
        if view is None:
            return
        kept, retired = sharing.split_live(copies, self.live_copies)
        drawn = self.cards.render(view, sharing.SHARED_CHAT)
        photo = bool(view.deal.photo_file_id)
        for copy in kept:
            if self._drawn.get(copy.inline_message_id) != drawn:
                await self._edit(copy, photo, drawn)
        if retired:
            last_words = self._retired(view)
            for copy in retired:
                if await self._edit(copy, photo, last_words):
                    await self.store.shared.retire(copy.inline_message_id, self.clock.timestamp())
                self._drawn.pop(copy.inline_message_id, None)
            log.info("shared cards retired deal=%s copies=%s", deal_id, len(retired))

    def _retired(self, view: DealView) -> Drawn:
        """What a copy no longer kept current shows: a line and a link to the current card
        (its message in a supergroup, else the signed link that opens it privately)."""
        deal = view.deal
        url = sharing.message_link(deal.chat_id, deal.card_message_id)
        if url is None:
            url = f"https://t.me/{self.bot.username}?start={self.links.deal(deal.id)}"
        lang = view.group.lang
        text = self.texts.render("shared_retired", lang, deal=deal)
        button = InlineKeyboardButton(self.texts.label("open_card", lang), url=url)
        return text, InlineKeyboardMarkup([[button]])

    async def _edit(self, copy: SharedCopy, photo: bool, drawn: Drawn) -> bool:
        """Edit one copy; False if it is gone (then it is forgotten) or the edit failed."""
        text, markup = drawn
        key = copy.inline_message_id
        try:
            if photo:
                await self.bot.edit_message_caption(
                    inline_message_id=key, caption=text, reply_markup=markup
                )
            else:
                await self.bot.edit_message_text(text, inline_message_id=key, reply_markup=markup)
        except BadRequest as exc:
            if sharing.gone(exc.message):
                log.info("shared card gone deal=%s: %s", copy.deal_id, exc.message)
                await self.store.shared.drop(key)
                self._known.pop(key, None)
                self._drawn.pop(key, None)
                return False
            if "not modified" not in exc.message.lower():
                log.warning("shared card edit refused deal=%s: %s", copy.deal_id, exc.message)
                return False
        except TelegramError as exc:
            log.warning("shared card edit failed deal=%s: %s", copy.deal_id, exc)
            return False
        self._drawn.pop(key, None)
        self._drawn[key] = drawn
        while len(self._drawn) > REMEMBERED:
            del self._drawn[next(iter(self._drawn))]
        return True
