"""Referrals and the ledger: invite links, who brought whom, rewards, payouts, standings."""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.core.links import Links
from bot.core.models import Balance, Deal, Group, LedgerEntry, Member, Standing
from storage.store import Store

log = logging.getLogger(__name__)


class Referrals:
    """Invites and their rewards; the arithmetic is bot.core.referrals', the books the
    store's append-only ledger."""

    def __init__(self, *, store: Store, clock: Clock, links: Links) -> None:
        self.store = store
        self.clock = clock
        self.links = links

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

    async def rewards_of(self, user_id: int) -> tuple[list[Balance], list[LedgerEntry]]:
        """A member's balance in each group and their latest ledger entries (/rewards)."""
        balances = await self.store.ledger.balances(user_id)
        return balances, await self.store.ledger.ledger_entries(user_id)

    async def leaderboard(self, chat_id: int) -> list[Standing]:
        """The group's best inviters (/top)."""
        return await self.store.ledger.leaderboard(chat_id)

    async def payout(self, group: Group, member: Member, amount: int, by_user: int) -> int:
        """Record a payout to the member; their balance after it. A UserError if it
        would overdraw."""
        balance = await self.store.ledger.payout(
            group.chat_id, member.user_id, amount, group.currency, by_user, self.clock.timestamp()
        )
        log.info(
            "payout chat=%s member=%s amount=%s by=%s",
            group.chat_id,
            member.user_id,
            amount,
            by_user,
        )
        return balance

    async def count_invite(self, chat_id: int, inviter_id: int, invitee_id: int) -> None:
        """Someone added someone to the group: count it for the inviter (once)."""
        if await self.store.ledger.record_group_invite(
            chat_id, inviter_id, invitee_id, self.clock.timestamp()
        ):
            log.info("group invite chat=%s inviter=%s invitee=%s", chat_id, inviter_id, invitee_id)
