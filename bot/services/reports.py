"""Leader tools: daily summaries (asked for and scheduled), CSV exports, paid/collected marks."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Collection
from datetime import date

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import Forbidden, TelegramError

from bot.core import callbacks, summary
from bot.core.models import Deal, Group, MarkBatch, Member, OrderRow, UndoneBatch
from bot.core.summary import GroupDay
from bot.services.console import console_button
from bot.services.deals import GroupBuy
from bot.texts import split_message

log = logging.getLogger(__name__)

# A deal's mark panel gets one row of buttons per order; past this many orders the
# keyboard would be unwieldy (and near Telegram's limits), so /paid and /collected serve.
MARK_BUTTONS_MAX = 30
# /paid @name for a member with unmarked orders in several deals: a button per deal, up to
# this many; the others are counted in the text (the leader names the deal: /paid 12 @ann).
DEAL_BUTTONS_MAX = 20
# A leader's daily summary is claimed by one worker for this long (seconds on the bot's
# clock), renewed every SUMMARY_RENEW real seconds while the worker sends: a killed
# worker's claim lapses this long after its last renewal and another worker takes it
# (the killed worker itself, restarted, takes it back at once).
SUMMARY_LEASE = 40
SUMMARY_RENEW = 10.0


class Reports:
    """Summaries, exports and marks for leaders, built on the GroupBuy service."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy
        # Who claims summaries: this worker, the same name across its restarts (so a
        # restarted worker takes back at once what it was sending when it was killed),
        # told apart from other workers by host and webhook port.
        webhook = groupbuy.settings.telegram.webhook
        where = f"{webhook.listen}:{webhook.port}" if webhook.enabled else "polling"
        self.worker = f"{socket.gethostname()}:{where}"
        self._sweeping = False

    # -- who leads what ---------------------------------------------------------------

    async def groups_led_by(self, user_id: int) -> list[Group]:
        """The groups this user leads: where they posted deals (or all, for configured
        leaders), confirmed as leader now."""
        store = self.gb.store
        if user_id in self.gb.settings.leaders:
            return await store.groups.all_groups()
        led = []
        for group in await store.groups.groups_led_by(user_id):
            if await self.gb.groups.is_leader(group.chat_id, user_id):
                led.append(group)
        return led

    async def leaders_of(self, group: Group) -> list[int]:
        """Everyone who gets the group's daily summary: its human admins, named and
        configured leaders."""
        return await self.gb.groups.leaders_of(group.chat_id)

    # -- summaries --------------------------------------------------------------------

    def today(self, group: Group) -> date:
        """The group's current local day."""
        return summary.local_today(self.gb.clock.now(), group.tz)

    async def day_of(self, group: Group, day: date) -> GroupDay:
        """Everything that formed in the group on that local day (and what was released
        unpaid)."""
        store = self.gb.store
        start, end = summary.day_bounds(day, group.tz)
        rows = await store.reports.orders_in_formed_rounds(group.chat_id, start, end)
        ended = await store.reports.rounds_closed(group.chat_id, start, end)
        deals: dict[int, Deal] = {}
        for deal_id in {deal_id for deal_id, _, _ in ended}:
            deal = await store.deals.get_deal(deal_id)
            if deal is not None:
                deals[deal_id] = deal
        rewards = await store.reports.rewards_between(group.chat_id, start, end)
        commissions = await store.reports.rewards_between(group.chat_id, start, end, helpers=True)
        released = await store.paywindow.released_between(group.chat_id, start, end)
        return summary.build_day(group, day, rows, ended, deals, rewards, released, commissions)

    async def summary_parts(
        self, leader: Member, day: GroupDay
    ) -> list[tuple[str, InlineKeyboardMarkup | None]]:
        """A group's day as the leader gets it privately: the report (cut into messages
        within Telegram's limit), then a mark panel per deal."""
        lang = await self.gb.languages.of(leader, day.group.lang)
        text = self.gb.texts.render("summary", lang, day=day)
        chunks = split_message(text)
        # The report's last message carries the console's button, when it is on.
        button = console_button(self.gb, lang)
        parts: list[tuple[str, InlineKeyboardMarkup | None]] = [
            (chunk, button if n == len(chunks) else None) for n, chunk in enumerate(chunks, 1)
        ]
        for deal_day in day.deals:
            # Marks are the deal's own group's leaders' to set: another group's deal shown
            # here (/share) has its orders listed, without a panel.
            mine = deal_day.deal.chat_id == day.group.chat_id
            if mine and deal_day.rows and len(deal_day.rows) <= MARK_BUTTONS_MAX:
                parts.append(self.mark_panel(deal_day.deal, deal_day.rows, lang))
        return parts

    async def send_summary(self, leader: Member | int, day: GroupDay) -> bool:
        """Send a group's day privately: the report (with the console's button when it is
        on), then a mark panel per deal."""
        user_id = leader if isinstance(leader, int) else leader.user_id
        if isinstance(leader, int):
            leader = await self.gb.store.groups.get_member(user_id) or Member(user_id, "")
        try:
            for text, markup in await self.summary_parts(leader, day):
                await self.gb.bot.send_message(user_id, text, reply_markup=markup)
        except Forbidden:
            return False
        return True

    async def send_due_summaries(self) -> None:
        """Send each group's daily summary to its leaders once its summary time has come.

        Leader by leader, each claimed for a while first and noted message by message as
        it goes out (storage/repos/reports.py): a worker killed half-way leaves its one
        claim to lapse, and the next sweep (of this worker restarted, or another) sends
        the rest of it; nobody sends a summary another worker holds or has sent. The group
        is marked done once every leader has it."""
        if self._sweeping:
            return  # the sweep before this one is still sending
        self._sweeping = True
        renewing = asyncio.get_running_loop().create_task(self._renew_claims())
        try:
            now = self.gb.clock.now()
            for group in await self.gb.store.groups.all_groups():
                day = summary.summary_due(now, group)
                if day is not None and await self._summary_to_leaders(group, day):
                    await self.gb.store.reports.record_summary_sent(group.chat_id, day.isoformat())
        finally:
            renewing.cancel()
            self._sweeping = False

    async def _renew_claims(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_RENEW)
            until = self.gb.clock.timestamp() + SUMMARY_LEASE
            await self.gb.store.reports.renew_summary_claims(self.worker, until)

    async def _summary_to_leaders(self, group: Group, day: date) -> bool:
        """Send the day's summary to each of the group's leaders not yet sent one nor
        claimed by another worker; True once every leader has it."""
        group_day = await self.day_of(group, day)
        if group_day.empty:
            return True  # a quiet day sends nothing: no news is no message
        reports, key = self.gb.store.reports, day.isoformat()
        leaders = await self.leaders_of(group)
        for user_id in leaders:
            now = self.gb.clock.timestamp()
            first = await reports.claim_summary(
                group.chat_id, key, user_id, self.worker, now, now + SUMMARY_LEASE
            )
            if first is not None:
                await self._send_claimed(group_day, user_id, first)
        return set(leaders) <= await reports.summaries_sent(group.chat_id, key)

    async def _send_claimed(self, day: GroupDay, user_id: int, first: int) -> None:
        """Send a claimed summary from its message `first` on, noting each as it goes."""
        reports, key = self.gb.store.reports, day.day.isoformat()
        leader = await self.gb.store.groups.get_member(user_id) or Member(user_id, "")
        parts = await self.summary_parts(leader, day)
        sent = True
        try:
            for n in range(first, len(parts)):
                text, markup = parts[n]
                await self.gb.bot.send_message(user_id, text, reply_markup=markup)
                done = n + 1 >= len(parts)
                now = self.gb.clock.timestamp()
                if not await reports.note_summary_part(
                    day.group.chat_id, key, user_id, self.worker, n + 1, now=now, done=done
                ):
                    log.warning("summary claim lost chat=%s leader=%s", day.group.chat_id, user_id)
                    return
        except Forbidden:
            sent = False  # the leader never started the bot: nothing to send later either
            now = self.gb.clock.timestamp()
            await reports.note_summary_part(
                day.group.chat_id, key, user_id, self.worker, first, now=now, done=True
            )
        except TelegramError as exc:  # its claim lapses, and a later sweep tries again
            log.warning(
                "daily summary failed chat=%s leader=%s: %s", day.group.chat_id, user_id, exc
            )
            return
        log.info("daily summary chat=%s leader=%s sent=%s", day.group.chat_id, user_id, sent)

    # -- marks ------------------------------------------------------------------------

    def mark_panel(
        self, deal: Deal, rows: list[OrderRow], lang: str
    ) -> tuple[str, InlineKeyboardMarkup]:
        """A deal's paid/collected buttons: one row per order, each showing its state and
        carrying the state a tap sets."""
        texts = self.gb.texts
        keyboard = []
        for row in rows:
            keyboard.append(
                [
                    InlineKeyboardButton(
                        texts.render("button_paid", lang, row=row),
                        callback_data=callbacks.MARKS.data(
                            callbacks.Action.PAID,
                            row.order.id,
                            callbacks.mark_target(not row.order.paid),
                        ),
                    ),
                    InlineKeyboardButton(
                        texts.render("button_collected", lang, row=row),
                        callback_data=callbacks.MARKS.data(
                            callbacks.Action.COLLECTED,
                            row.order.id,
                            callbacks.mark_target(not row.order.collected),
                        ),
                    ),
                ]
            )
        return texts.render("mark_panel", lang, deal=deal), InlineKeyboardMarkup(keyboard)

    async def order(self, order_id: int) -> OrderRow | None:
        """One order with its deal and member (callers check who may see it)."""
        return await self.gb.store.orders.get_order(order_id)

    async def order_by_code(self, code: str) -> OrderRow | None:
        """The order a collection code names, or None."""
        return await self.gb.store.orders.order_by_code(code)

    async def member_orders_in_deal(self, deal_id: int, who: str | int) -> list[OrderRow]:
        """A member's orders in a deal, the member named by user id or username."""
        return await self.gb.store.orders.member_orders_in_deal(deal_id, who)

    async def rows_of_panel(self, deal_id: int, order_ids: list[int]) -> list[OrderRow]:
        """The current state of the orders a mark panel shows."""
        rows = []
        for order_id in order_ids:
            row = await self.gb.store.orders.get_order(order_id)
            if row is not None and row.deal.id == deal_id:
                rows.append(row)
        return rows

    async def may_mark(self, user_id: int, row: OrderRow) -> bool:
        """Only a leader of the order's group marks it."""
        return await self.gb.groups.is_leader(row.deal.chat_id, user_id)

    async def mark(self, rows: list[OrderRow], mark: str, value: bool, by_user: int) -> int:
        """Set or undo a mark on these orders; how many changed."""
        changed = await self.gb.store.orders.mark_orders(
            [row.order.id for row in rows], mark, value, by_user, self.gb.clock.timestamp()
        )
        for order_id in changed:
            log.info("order %s %s=%s by=%s", order_id, mark, value, by_user)
        return len(changed)

    # -- marks by name ----------------------------------------------------------------

    async def members_named(self, chat_ids: Collection[int], typed: str) -> list[Member]:
        """Whom a leader means: `@name` is whoever holds that username now; a name without
        @ is each member who ordered in these groups' deals and whose username, first name
        or full name it is (case-insensitively)."""
        if typed.startswith("@"):
            found = await self.gb.groups.find_member(typed)
            return [] if found is None else [found]
        wanted = typed.casefold()
        return [
            member
            for member in await self.gb.store.orders.members_with_orders(chat_ids)
            if wanted
            in (
                (member.username or "").casefold(),
                member.first_name.casefold(),
                f"{member.first_name} {member.last_name}".strip().casefold(),
            )
        ]

    async def unmarked_by_deal(
        self, chat_ids: Collection[int], member: Member, mark: str
    ) -> list[tuple[Deal, int]]:
        """Each deal of these groups where the member has confirmed orders lacking the mark,
        with how many, oldest deal first."""
        rows = await self.gb.store.orders.unmarked_orders_of_member(chat_ids, member.user_id, mark)
        deals: dict[int, tuple[Deal, int]] = {}
        for row in rows:
            deal, count = deals.get(row.deal.id, (row.deal, 0))
            deals[row.deal.id] = (deal, count + 1)
        return list(deals.values())

    async def mark_member(
        self, deal: Deal, member: Member, mark: str, by_user: int
    ) -> MarkBatch | None:
        """Mark the member's confirmed orders in the deal that lack the mark; None if none
        did (marked meanwhile, or a tap delivered twice)."""
        done = await self.gb.store.orders.mark_member_in_deal(
            deal.id, member.user_id, mark, by_user, self.gb.clock.timestamp()
        )
        if done is None:
            return None
        order_ids, first, last = done
        log.info(
            "orders %s %s=True by=%s (member %s, deal %s)",
            order_ids,
            mark,
            by_user,
            member.user_id,
            deal.id,
        )
        return MarkBatch(deal, member, mark, tuple(order_ids), first, last)

    async def batch_deal(self, first_entry: int) -> Deal | None:
        """The deal whose orders an Undo button's marks are on, or None."""
        batch = await self.gb.store.orders.mark_batch(first_entry)
        return None if batch is None else await self.gb.store.deals.get_deal(batch[0])

    async def undo_batch(self, first: int, last: int, by_user: int) -> UndoneBatch | None:
        """Clear exactly the marks a /paid @name reply set (those not cleared or set again
        since); None if the button names no such marks."""
        store = self.gb.store
        batch = await store.orders.mark_batch(first)
        if batch is None:
            return None
        deal_id, user_id, mark = batch
        deal = await store.deals.get_deal(deal_id)
        member = await store.groups.get_member(user_id)
        if deal is None or member is None:
            return None
        cleared, total = await store.orders.undo_mark_batch(
            first, last, by_user, self.gb.clock.timestamp()
        )
        log.info("marks %s..%s undone by=%s: %s of %s", first, last, by_user, cleared, total)
        return UndoneBatch(deal, member, mark, cleared, total)

    def marked_reply(self, batch: MarkBatch, lang: str) -> tuple[str, InlineKeyboardMarkup]:
        """What a /paid @name reply says it marked, with its Undo button."""
        texts = self.gb.texts
        text = texts.render(
            "marked_member",
            lang,
            member=batch.member,
            deal=batch.deal,
            mark=batch.mark,
            count=len(batch.order_ids),
        )
        data = callbacks.NAMED_MARKS.data(
            callbacks.Action.UNDO_MARKS, batch.first_entry, batch.last_entry
        )
        undo = InlineKeyboardButton(texts.label("undo", lang), callback_data=data)
        return text, InlineKeyboardMarkup([[undo]])

    def deal_choice(
        self, member: Member, deals: list[tuple[Deal, int]], mark: str, lang: str
    ) -> tuple[str, InlineKeyboardMarkup]:
        """The question which deal to mark, a button per deal ("#12 Mangoes (2)")."""
        texts = self.gb.texts
        action = (
            callbacks.Action.MARK_DEAL_PAID
            if mark == "paid"
            else callbacks.Action.MARK_DEAL_COLLECTED
        )
        keyboard = [
            [
                InlineKeyboardButton(
                    texts.render("button_mark_deal", lang, deal=deal, count=count),
                    callback_data=callbacks.NAMED_MARKS.data(action, deal.id, member.user_id),
                )
            ]
            for deal, count in deals[:DEAL_BUTTONS_MAX]
        ]
        text = texts.render(
            "mark_which_deal",
            lang,
            member=member,
            mark=mark,
            deals=len(deals),
            more=len(deals[DEAL_BUTTONS_MAX:]),
        )
        return text, InlineKeyboardMarkup(keyboard)

    # -- exports ----------------------------------------------------------------------

    async def orders_of_deal(self, deal_id: int) -> list[OrderRow]:
        """Every order of a deal, whatever its status (/export of one deal)."""
        return await self.gb.store.orders.orders_of_deal(deal_id)

    async def send_export(
        self, user_id: int, rows: list[OrderRow], tz: str, name: str, lang: str
    ) -> bool:
        """Send orders as a CSV document privately; False if the user never started the bot."""
        data = summary.export_csv(rows, tz, lambda member: self.gb.texts.member_name(member, lang))
        try:
            await self.gb.bot.send_document(
                user_id,
                InputFile(data, filename=name, attach=True),
                disable_content_type_detection=True,
            )
        except Forbidden:
            return False
        return True
