"""Which language each person reads: their own choice (/lang), else Telegram's, else the
group's. The choices are few and read on every button answer, so they are kept in memory,
re-read from the store at most once a minute (another worker's /lang shows within that)."""

from __future__ import annotations

from bot.clock import Clock
from bot.core.languages import DEFAULT_LANGUAGE
from bot.core.models import Member
from storage.store import Store

FRESH_FOR = 60  # seconds a read of everyone's choices stays current


class Languages:
    """Each member's language, and their choice of it."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._chosen: dict[int, str] = {}
        self._read_at: int | None = None

    async def of(self, member: Member, fallback: str = DEFAULT_LANGUAGE) -> str:
        """The language to write to `member` in; `fallback` is the group's, where there is
        one, for a member whose Telegram speaks a language the bot does not."""
        now = self.clock.timestamp()
        if self._read_at is None or now - self._read_at >= FRESH_FOR:
            self._read_at = now  # first: the taps meanwhile use what is known, not re-read
            self._chosen = await self.store.groups.member_langs()
        chosen = self._chosen.get(member.user_id) or member.lang
        return chosen or member.speaks(fallback)

    async def choose(self, member: Member, lang: str | None) -> None:
        """Keep `member`'s own language, or (None) follow Telegram's again."""
        await self.store.groups.save_member(member, self.clock.timestamp())
        await self.store.groups.set_member_lang(member.user_id, lang, self.clock.timestamp())
        if lang is None:
            self._chosen.pop(member.user_id, None)
        else:
            self._chosen[member.user_id] = lang
