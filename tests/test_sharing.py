"""The rules of shared deal cards (bot/core/sharing.py): result ids, pages, the cap."""

from __future__ import annotations

from bot.core import sharing
from bot.core.sharing import SharedCopy


def test_a_result_names_its_deal_and_nothing_else_reads_as_one() -> None:
    assert sharing.result_id(42) == "deal:42"
    assert sharing.deal_of_result("deal:42") == 42
    for other in (None, "", "deal:", "deal:042", "deal:4x", "deal:-1", "d42", "deal:" + "9" * 16):
        assert sharing.deal_of_result(other) is None
    assert len(sharing.result_id(10**15 - 1).encode()) <= 64


def test_pages_follow_the_offset_the_bot_gave() -> None:
    assert sharing.page_start("") == 0 and sharing.page_start(None) == 0
    assert sharing.page_start("20") == 20
    assert sharing.page_start("junk") == 0 and sharing.page_start("9" * 7) == 0
    assert sharing.next_offset(0, 20, more=True) == "20"
    assert sharing.next_offset(20, 20, more=False) == ""


def test_the_latest_copies_are_kept_and_the_older_retired() -> None:
    copies = [SharedCopy(f"c{n}", 1, None, 100 - n) for n in range(5)]  # newest first
    kept, retired = sharing.split_live(copies, 3)
    assert [c.inline_message_id for c in kept] == ["c0", "c1", "c2"]
    assert [c.inline_message_id for c in retired] == ["c3", "c4"]
    assert sharing.split_live(copies[:2], 3) == (copies[:2], [])


def test_gone_copies_and_links_to_the_card() -> None:
    assert sharing.gone("Message_id_invalid")
    assert sharing.gone("Message to edit not found")
    assert not sharing.gone("Message is not modified: specified new message content")
    assert sharing.message_link(-1001234567890, 7) == "https://t.me/c/1234567890/7"
    assert sharing.message_link(-4567, 7) is None  # a basic group has no message links
    assert sharing.message_link(-1001234567890, None) is None
