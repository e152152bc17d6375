"""Deal cards: drawn to fit Telegram's limits, posted, kept current in their group at its
turn, and the rule for where a tap on their buttons counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.clock import Clock
from bot.core import callbacks
from bot.core.links import Links
from bot.core.models import Deal, DealStatus, DealView
from bot.grouplines import GroupLines
from bot.texts import CAPTION_LIMIT, MESSAGE_LIMIT, Texts, utf16_len
from storage.store import Store

NOT_MODIFIED = "message is not modified"
DEAL_GROUPS = 10_000  # deals whose group is remembered for the taps on their cards
# Cards whose last drawing is remembered, to skip edits that would change nothing.
DRAWN_CARDS = 1000

Drawn = tuple[str, InlineKeyboardMarkup | None]


class DealCards:
    """Every deal card the bot shows: in its group, and privately through a signed link."""

    def __init__(
        self, *, store: Store, texts: Texts, clock: Clock, bot: Bot, links: Links, lines: GroupLines
    ) -> None:
        self.store = store
        self.texts = texts
        self.clock = clock
        self.bot = bot
        self.links = links
        self.lines = lines
        self._deal_groups: dict[int, int] = {}
        # The further groups that show a deal (/share), as last read: a tap from a group
        # not among them reads them again before it is refused.
        self._shown_in: dict[int, frozenset[int]] = {}
        self._drawn: dict[tuple[int, int], Drawn] = {}
        # Asked to redraw a deal's copies shared into other chats (SharedCards.refresh).
        self.shared_copies: Callable[[int], None] | None = None

    def forget_groups(self) -> None:
        """A group became a supergroup: its deals' groups are read again."""
        self._deal_groups.clear()
        self._shown_in.clear()

    async def tap_allowed(self, deal_id: int, chat_id: int | None, key: int | None) -> bool:
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
        if key is not None and key == self.links.card_key(chat_id, deal_id):
            return True
        return await self.shown_in(deal_id, chat_id)

    def forget_shown(self, deal_id: int) -> None:
        """The deal was shown in one more group: its groups are read again."""
        self._shown_in.pop(deal_id, None)

    async def via_group(self, deal_id: int, chat_id: int | None) -> int | None:
        """The further group a tap on the deal's card came from, or None for its own group
        and private chats (group chats have negative ids)."""
        if chat_id is None or chat_id >= 0 or chat_id == await self.deal_group(deal_id):
            return None
        return chat_id if await self.shown_in(deal_id, chat_id) else None

    async def shown_in(self, deal_id: int, chat_id: int) -> bool:
        """Whether the deal is shown in this further group (/share): its taps count there
        and its orders are told apart by it."""
        if chat_id in self._shown_in.get(deal_id, ()):
            return True
        chats = frozenset(g.chat_id for g in await self.store.spread.groups_of(deal_id))
        self._shown_in[deal_id] = chats
        if len(self._shown_in) > DEAL_GROUPS:
            del self._shown_in[next(iter(self._shown_in))]
        return chat_id in chats

    async def deal_group(self, deal_id: int) -> int | None:
        """The chat of the deal's group, or None if there is no such deal (each tap asks:
        remembered, since a deal changes group only when its group becomes a supergroup)."""
        if (chat_id := self._deal_groups.get(deal_id)) is None:
            deal = await self.store.deals.get_deal(deal_id)
            if deal is None:
                return None
            chat_id = self._deal_groups[deal_id] = deal.chat_id
            if len(self._deal_groups) > DEAL_GROUPS:
                del self._deal_groups[next(iter(self._deal_groups))]
        return chat_id

    def render(self, view: DealView, chat_id: int | None = None) -> Drawn:
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
        """Join (one per option), or "Notify me" where sold out; Leave; Invite. A timed
        sale before its start shows Invite alone.

        Outside the groups that show the deal the buttons carry the key of that chat and
        deal: a tap there counts only on a card the bot itself showed (see `tap_allowed`)."""
        if view.deal.status is not DealStatus.OPEN:
            return None
        lang = view.group.lang
        deal = view.deal
        Action = callbacks.Action
        key = None
        if chat_id is not None and chat_id != view.group.chat_id:
            key = self.links.card_key(chat_id, deal.id)

        def button(label: str, action: callbacks.Action, target: int) -> InlineKeyboardButton:
            return InlineKeyboardButton(
                label, callback_data=callbacks.DEAL.data(action, target, key)
            )

        invite = button(self.texts.label("invite", lang), Action.INVITE, deal.id)
        # Share: `@bot <signed deal>` in a chat the member picks (SharedCards lists it);
        # only for a bot with inline mode on (@BotFather's /setinline).
        share = []
        if self._inline_mode():
            label = self.texts.label("share", lang)
            share.append(InlineKeyboardButton(label, switch_inline_query=self.links.deal(deal.id)))
        if deal.opens_later(self.clock.timestamp()):
            # A timed sale's preview: no Join (nor Leave) until the scheduler opens it.
            return InlineKeyboardMarkup([[invite, *share]])
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
        rows[-1] += share
        return InlineKeyboardMarkup(rows)

    def _inline_mode(self) -> bool:
        """Whether the bot takes inline queries (getMe, read at start)."""
        try:
            return bool(self.bot.supports_inline_queries)
        except RuntimeError:  # not initialised: no getMe yet
            return False

    def refresh(self, deal: Deal) -> None:
        """Have the deal's card show the current state at its group's coming turn: it is
        drawn then, so a burst of taps costs one edit that shows the state of that moment."""
        self.lines.refresh(deal.chat_id, deal.id, partial(self._show_current, deal.id))
        if self.shared_copies is not None:
            self.shared_copies(deal.id)

    async def _show_current(self, deal_id: int) -> bool:
        """Draw the card now; False if nothing was sent (the group's turn is given back).
        The cards in further groups that show the deal follow, each at its group's turn."""
        view = await self.store.deals.deal_view(deal_id)
        if view is None:
            return False
        for shown in await self.store.spread.groups_of(deal_id):
            if shown.card_message_id is not None:
                draw = partial(self._show_in, deal_id, shown.chat_id, shown.card_message_id)
                self.lines.refresh(shown.chat_id, deal_id, draw)
        if view.deal.card_message_id is None:
            return False
        return await self.show(view, view.deal.chat_id, view.deal.card_message_id)

    async def _show_in(self, deal_id: int, chat_id: int, message_id: int) -> bool:
        """Draw the deal's card in a further group that shows it, in that group's words."""
        view = await self.view_in(deal_id, chat_id)
        if view is None:
            return False
        return await self.show(view, chat_id, message_id)

    async def view_in(self, deal_id: int, chat_id: int) -> DealView | None:
        """The deal's card as a further group shows it: its language and time zone."""
        view = await self.store.deals.deal_view(deal_id)
        group = await self.store.groups.get_group(chat_id)
        if view is None or group is None:
            return None
        return replace(view, group=group)

    async def show(self, view: DealView, chat_id: int, message_id: int) -> bool:
        """Edit a message showing the deal's card to the current state; False if the
        message already shows it (nothing is sent then)."""
        drawn = self.render(view, chat_id)
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

    async def send(self, view: DealView, chat_id: int) -> int:
        """Post the deal's card in a chat (the group, or privately from a signed link)."""
        drawn = self.render(view, chat_id)
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
