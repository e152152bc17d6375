"""One deal in several groups, and helper leaders (帮卖).

A leader who leads several groups posts a deal to more than one: with `stock: shared` (the
default) the deal's card is shown in each further group, one stock and one set of rounds
across them, every card kept current and every order noting the group it came through;
with `stock: per-group` each further group gets a deal of its own (a copy), with its own
stock and rounds. The deal's leader may invite the leader of another group to sell it
there (`/helpsell`): a signed link; once accepted, `/share` in the helper's group shows the
card there, and each order from it earns the helper a commission in the ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from telegram.error import TelegramError

from bot.core.errors import UserError
from bot.core.models import Deal, DealStatus, Group, Member
from bot.core.spread import MAX_GROUPS, PER_GROUP

if TYPE_CHECKING:
    from bot.services.deals import GroupBuy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    """Where a deal went: the group, and the deal it shows there (a per-group copy is a
    deal of its own)."""

    group: Group
    deal: Deal


class Spread:
    """Shows deals in further groups and keeps helper leaders' terms."""

    def __init__(self, groupbuy: GroupBuy) -> None:
        self.gb = groupbuy

    async def resolve(self, names: tuple[str, ...], here: Group, leader: Member) -> list[Group]:
        """The groups a form names (titles or chat ids), each one the leader leads; a
        UserError naming the first that is not. Checked before anything is posted."""
        if len(names) > MAX_GROUPS:
            raise UserError("spread_too_many", max=MAX_GROUPS)
        found: list[Group] = []
        for name in names:
            matches = [
                group
                for group in await self.gb.store.spread.groups_named(name)
                if group.chat_id != here.chat_id
                and await self.gb.groups.is_leader(group.chat_id, leader.user_id)
            ]
            if len(matches) != 1:
                led = await self.gb.store.groups.groups_led_by(leader.user_id)
                titles = [g.title for g in led if g.chat_id != here.chat_id and g.title]
                template = "spread_group_ambiguous" if matches else "spread_group_unknown"
                raise UserError(template, name=name, titles=titles)
            group = matches[0]
            if group.currency != here.currency:
                raise UserError("spread_group_currency", name=group.title, currency=group.currency)
            if group.chat_id not in {known.chat_id for known in found}:
                found.append(group)
        return found

    async def post_to(self, deal: Deal, groups: list[Group], leader: Member) -> list[Group]:
        """After the deal is posted in its own group: show it in the further groups (or
        post a copy in each, per-group); the groups where that failed."""
        failed = []
        for group in groups:
            try:
                await self._show(deal, group, leader, helper=False)
            except UserError as error:
                log.warning("share failed deal=%s chat=%s: %s", deal.id, group.chat_id, error)
                failed.append(group)
        return failed

    async def share(self, deal_id: int, group: Group, leader: Member) -> Shared:
        """/share <deal> in a group the sender leads: the deal's leader (who leads the
        deal's group too) or a helper who accepted an invitation to sell it."""
        deal = await self.gb.store.deals.get_deal(deal_id)
        if deal is None:
            raise UserError("deal_not_found", deal_id=deal_id)
        leads_home = await self.gb.groups.is_leader(deal.chat_id, leader.user_id)
        helper = not leads_home
        if helper and await self.gb.store.spread.helper_commission(deal.id, leader.user_id) is None:
            raise UserError("deal_not_found", deal_id=deal_id)  # not theirs to see
        if deal.chat_id == group.chat_id:
            raise UserError("spread_here", deal=deal)
        return await self._show(deal, group, leader, helper=helper)

    async def _show(self, deal: Deal, group: Group, leader: Member, *, helper: bool) -> Shared:
        if deal.status is not DealStatus.OPEN:
            raise UserError("deal_not_open", deal=deal)
        if deal.stock_scope == PER_GROUP and not helper:
            return Shared(group, await self._copy(deal, group, leader))
        if deal.currency != group.currency:
            raise UserError("spread_currency", deal=deal, currency=group.currency)
        store = self.gb.store
        commission = await store.spread.helper_commission(deal.id, leader.user_id) if helper else 0
        now = self.gb.clock.timestamp()
        if not await store.spread.add_group(
            deal.id,
            group.chat_id,
            leader.user_id,
            now,
            helper_id=leader.user_id if helper else None,
            commission=commission or 0,
        ):
            raise UserError("spread_already", deal=deal)
        view = await self.gb.cards.view_in(deal.id, group.chat_id)
        assert view is not None
        try:
            message_id = await self.gb.lines.turn(
                group.chat_id, partial(self.gb.cards.send, view, group.chat_id)
            )
        except TelegramError as exc:
            # The group stays without a card: /share there again posts one.
            await store.spread.release(deal.id, group.chat_id)
            log.warning("shared card failed deal=%s chat=%s: %s", deal.id, group.chat_id, exc)
            raise UserError("spread_failed", deal=deal) from exc
        await store.spread.set_card(deal.id, group.chat_id, message_id)
        self.gb.cards.forget_shown(deal.id)
        log.info(
            "deal shown deal=%s chat=%s by=%s helper=%s",
            deal.id,
            group.chat_id,
            leader.user_id,
            helper,
        )
        return Shared(group, deal)

    async def _copy(self, deal: Deal, group: Group, leader: Member) -> Deal:
        """A per-group deal: a copy with its own stock and rounds, the same deadline."""
        if deal.currency != group.currency:
            raise UserError("spread_currency", deal=deal, currency=group.currency)
        if any(d.chat_id == group.chat_id for d in await self.gb.store.spread.copies_of(deal.id)):
            raise UserError("spread_already", deal=deal)
        form = await self.gb.form_of(deal, group)
        if form.start is not None and form.start <= self.gb.clock.now():
            form = replace(form, start=None)
        try:
            return await self.gb.post_form(
                group, leader, form, deal.photo_file_id, copied_from=deal.id
            )
        except TelegramError as exc:  # the copy was cancelled: /share there may try again
            log.warning("per-group copy failed deal=%s chat=%s: %s", deal.id, group.chat_id, exc)
            raise UserError("spread_failed", deal=deal) from exc

    # -- helper leaders ---------------------------------------------------------------

    async def invite_helper(self, deal: Deal, commission: int, bot_username: str) -> str:
        """The signed link a deal's leader gives a helper: opening it accepts the terms."""
        if deal.status is not DealStatus.OPEN:
            raise UserError("deal_not_open", deal=deal)
        payload = self.gb.links.helper(deal.id, commission)
        return f"https://t.me/{bot_username}?start={payload}"

    async def accept_helper(
        self, deal_id: int, commission: int, helper: Member
    ) -> tuple[Deal, int]:
        """The helper opened the link: their terms are kept (the first accepted stand).
        The deal and the commission that stands; a UserError if the deal has ended."""
        deal = await self.gb.store.deals.get_deal(deal_id)
        if deal is None:
            raise UserError("tap_stale")
        if deal.status is not DealStatus.OPEN:
            raise UserError("deal_not_open", deal=deal)
        await self.gb.groups.save(helper)
        kept = await self.gb.store.spread.add_helper(
            deal.id, helper.user_id, commission, deal.leader_id, self.gb.clock.timestamp()
        )
        log.info("helper accepted deal=%s helper=%s commission=%s", deal.id, helper.user_id, kept)
        return deal, kept
