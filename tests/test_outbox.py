"""The group outbox: paced per group, the card first, queued texts joined, nothing lost."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.outbox import SEPARATOR, GroupOutbox, pack
from bot.texts import MESSAGE_LIMIT

GROUP, OTHER = -100, -200
INTERVAL = 0.05


class Sent:
    """What the outbox handed to Telegram, with when."""

    def __init__(self) -> None:
        self.log: list[tuple[float, int, str]] = []
        self.fail_next = False

    async def send(self, chat_id: int, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the network ate it")
        self.log.append((time.monotonic(), chat_id, text))

    def texts(self, chat_id: int = GROUP) -> list[str]:
        return [text for _, chat, text in self.log if chat == chat_id]

    def gaps(self, chat_id: int = GROUP) -> list[float]:
        times = [at for at, chat, _ in self.log if chat == chat_id]
        return [b - a for a, b in itertools.pairwise(times)]


def test_pack_joins_texts_in_order_within_the_limit() -> None:
    texts = [f"round {n} formed\n" + "x" * 300 for n in range(1, 51)]
    messages = pack(texts)
    assert 1 < len(messages) < 10
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert SEPARATOR.join(messages) == SEPARATOR.join(texts), "nothing lost, nothing reordered"


def test_pack_splits_a_text_longer_than_a_message() -> None:
    long = "\n".join(f"member {n}" for n in range(2000))
    messages = pack(["short", long, "after"])
    assert messages[0].startswith("short")
    assert messages[-1].endswith("after")
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert sum(m.count("member ") for m in messages) == 2000


async def test_without_pacing_every_text_goes_at_once_on_its_own() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=0)
    for n in range(3):
        await outbox.post(GROUP, f"text {n}")
    assert sent.texts() == ["text 0", "text 1", "text 2"]
    assert await outbox.turn(GROUP, _returns(7)) == 7


async def test_texts_that_queue_up_go_out_joined_and_paced() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=INTERVAL)
    for n in range(50):
        await outbox.post(GROUP, f"round {n} formed")
    await outbox.post(OTHER, "another group")
    await outbox.drained()

    assert sent.texts(OTHER) == ["another group"], "groups do not wait for each other"
    joined = SEPARATOR.join(sent.texts())
    assert joined == SEPARATOR.join(f"round {n} formed" for n in range(50))
    assert len(sent.texts()) == 1
    await outbox.post(GROUP, "later")
    await outbox.drained()
    assert sent.texts()[-1] == "later"
    assert all(gap >= INTERVAL * 0.9 for gap in sent.gaps())


async def test_the_card_goes_before_waiting_texts_and_is_drawn_when_it_goes() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=INTERVAL)
    state = {"members": 1}

    async def edit_card() -> str:
        await sent.send(GROUP, f"card: {state['members']} members")
        return "edited"

    await outbox.post(GROUP, "round 1 formed")  # goes at once, the group's turn is used
    await asyncio.sleep(0)
    for n in range(2, 5):
        await outbox.post(GROUP, f"round {n} formed")
    edit = asyncio.create_task(outbox.turn(GROUP, edit_card))
    await asyncio.sleep(0)
    state["members"] = 40  # the taps go on while the card waits for its turn
    assert await edit == "edited"
    await outbox.drained()

    assert sent.texts() == [
        "round 1 formed",
        "card: 40 members",
        SEPARATOR.join(f"round {n} formed" for n in range(2, 5)),
    ]
    assert all(gap >= INTERVAL * 0.9 for gap in sent.gaps())


async def test_cards_and_texts_take_turns_while_both_wait() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=INTERVAL)

    async def card(n: int) -> None:
        await sent.send(GROUP, f"card {n}")

    await outbox.post(GROUP, "first")
    await asyncio.sleep(0)
    await outbox.post(GROUP, "x" * (MESSAGE_LIMIT - 10))
    await outbox.post(GROUP, "y" * (MESSAGE_LIMIT - 10))
    cards = [asyncio.create_task(outbox.turn(GROUP, lambda n=n: card(n))) for n in (1, 2)]
    await asyncio.gather(*cards)
    await outbox.drained()

    kinds = [text[0] for text in sent.texts()]
    assert kinds == ["f", "c", "x", "c", "y"]


async def test_a_turn_that_sends_nothing_costs_no_wait() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=0.5)

    async def unchanged() -> bool:
        return False  # the card already shows this

    await outbox.post(GROUP, "first")
    await outbox.drained()
    started = time.monotonic()
    await outbox.turn(GROUP, unchanged)  # waits for the turn, sends nothing
    await outbox.post(GROUP, "second")
    await outbox.drained()
    assert sent.texts() == ["first", "second"]
    assert time.monotonic() - started < 0.9, "the spared turn did not cost a second wait"


async def test_failures_reach_the_card_caller_and_never_stop_the_texts() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=INTERVAL)

    async def broken() -> None:
        raise ValueError("bad card")

    with pytest.raises(ValueError, match="bad card"):
        await outbox.turn(GROUP, broken)
    sent.fail_next = True
    await outbox.post(GROUP, "lost to the network")
    await outbox.drained()
    await outbox.post(GROUP, "still sent")
    await outbox.drained()
    assert sent.texts() == ["still sent"]


def _returns(value: int) -> Callable[[], Awaitable[int]]:
    async def request() -> int:
        return value

    return request


async def test_a_flush_at_shutdown_does_not_wait_out_the_pace() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=10)
    await outbox.post(GROUP, "first")
    await asyncio.sleep(0)
    await outbox.post(GROUP, "x" * (MESSAGE_LIMIT - 10))
    await outbox.post(GROUP, "y" * (MESSAGE_LIMIT - 10))
    started = time.monotonic()
    await outbox.flush()
    assert [text[0] for text in sent.texts()] == ["f", "x", "y"]
    assert time.monotonic() - started < 1


async def test_blank_texts_are_not_sent() -> None:
    sent = Sent()
    outbox = GroupOutbox(sent.send, interval=INTERVAL)
    await outbox.post(GROUP, "  \n ")
    await outbox.post(GROUP, "")
    await outbox.drained()
    await outbox.post(GROUP, "real")
    await outbox.drained()
    assert sent.texts() == ["real"]
