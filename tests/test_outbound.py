"""The outbound path: paced per group, replies first, cards drawn at their turn and coalesced,
queued texts joined, nothing lost; 429s waited out, a send whose answer never came not repeated."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp_socks
import pytest
from aiohttp.client_reqrep import ConnectionKey
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.grouplines import SEPARATOR, GroupLines, pack
from bot.outbound import Budget, Outbound
from bot.texts import MESSAGE_LIMIT

GROUP, OTHER = -100, -200
INTERVAL = 0.05


class Sent:
    """What the group lines handed to Telegram, with when."""

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


async def test_without_pacing_nothing_waits() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=0)
    started = time.monotonic()
    for n in range(3):
        lines.post(GROUP, f"text {n}")
    assert await lines.turn(GROUP, _returns(7)) == 7
    await lines.drained()
    assert SEPARATOR.join(sent.texts()) == SEPARATOR.join(f"text {n}" for n in range(3))
    assert time.monotonic() - started < 0.1


async def test_texts_that_queue_up_go_out_joined_and_paced() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)
    for n in range(50):
        lines.post(GROUP, f"round {n} formed")
    lines.post(OTHER, "another group")
    await lines.drained()

    assert sent.texts(OTHER) == ["another group"], "groups do not wait for each other"
    joined = SEPARATOR.join(sent.texts())
    assert joined == SEPARATOR.join(f"round {n} formed" for n in range(50))
    assert len(sent.texts()) == 1
    lines.post(GROUP, "later")
    await lines.drained()
    assert sent.texts()[-1] == "later"
    assert all(gap >= INTERVAL * 0.9 for gap in sent.gaps())


async def test_the_card_goes_before_waiting_texts_and_is_drawn_when_it_goes() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)
    state = {"members": 1}

    async def edit_card() -> str:
        await sent.send(GROUP, f"card: {state['members']} members")
        return "edited"

    lines.post(GROUP, "round 1 formed")  # goes at once, the group's turn is used
    await asyncio.sleep(0)
    for n in range(2, 5):
        lines.post(GROUP, f"round {n} formed")
    edit = asyncio.create_task(lines.turn(GROUP, edit_card))
    await asyncio.sleep(0)
    state["members"] = 40  # the taps go on while the card waits for its turn
    assert await edit == "edited"
    await lines.drained()

    assert sent.texts() == [
        "round 1 formed",
        "card: 40 members",
        SEPARATOR.join(f"round {n} formed" for n in range(2, 5)),
    ]
    assert all(gap >= INTERVAL * 0.9 for gap in sent.gaps())


async def test_cards_and_texts_take_turns_while_both_wait() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)

    async def card(n: int) -> None:
        await sent.send(GROUP, f"card {n}")

    lines.post(GROUP, "first")
    await asyncio.sleep(0)
    lines.post(GROUP, "x" * (MESSAGE_LIMIT - 10))
    lines.post(GROUP, "y" * (MESSAGE_LIMIT - 10))
    cards = [asyncio.create_task(lines.turn(GROUP, lambda n=n: card(n))) for n in (1, 2)]
    await asyncio.gather(*cards)
    await lines.drained()

    kinds = [text[0] for text in sent.texts()]
    assert kinds == ["f", "c", "x", "c", "y"]


async def test_a_turn_that_sends_nothing_costs_no_wait() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=0.5)

    async def unchanged() -> bool:
        return False  # the card already shows this

    lines.post(GROUP, "first")
    await lines.drained()
    started = time.monotonic()
    await lines.turn(GROUP, unchanged)  # waits for the turn, sends nothing
    lines.post(GROUP, "second")
    await lines.drained()
    assert sent.texts() == ["first", "second"]
    assert time.monotonic() - started < 0.9, "the spared turn did not cost a second wait"


async def test_failures_reach_the_card_caller_and_never_stop_the_texts() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)

    async def broken() -> None:
        raise ValueError("bad card")

    with pytest.raises(ValueError, match="bad card"):
        await lines.turn(GROUP, broken)
    sent.fail_next = True
    lines.post(GROUP, "lost to the network")
    await lines.drained()
    lines.post(GROUP, "still sent")
    await lines.drained()
    assert sent.texts() == ["still sent"]


def _returns(value: int) -> Callable[[], Awaitable[int]]:
    async def request() -> int:
        return value

    return request


async def test_a_flush_at_shutdown_does_not_wait_out_the_pace() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=10)
    lines.post(GROUP, "first")
    await asyncio.sleep(0)
    lines.post(GROUP, "x" * (MESSAGE_LIMIT - 10))
    lines.post(GROUP, "y" * (MESSAGE_LIMIT - 10))
    started = time.monotonic()
    await lines.flush()
    assert [text[0] for text in sent.texts()] == ["f", "x", "y"]
    assert time.monotonic() - started < 1


async def test_blank_texts_are_not_sent() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)
    lines.post(GROUP, "  \n ")
    lines.post(GROUP, "")
    await lines.drained()
    lines.post(GROUP, "real")
    await lines.drained()
    assert sent.texts() == ["real"]


async def test_a_reply_goes_at_once_before_waiting_cards_and_texts() -> None:
    # A longer spacing than the other tests': "at once" must stand out from "at the next
    # turn" by far more than a busy machine's scheduling delays.
    interval = 0.4
    sent = Sent()
    lines = GroupLines(sent.send, interval=interval)

    async def card() -> None:
        await sent.send(GROUP, "card")

    async def answer() -> str:
        await sent.send(GROUP, "reply")
        return "answered"

    lines.post(GROUP, "first")  # takes the group's turn at once
    await asyncio.sleep(0)
    lines.post(GROUP, "round formed")
    waiting_card = asyncio.create_task(lines.turn(GROUP, card))
    await asyncio.sleep(0)
    assert await lines.reply(GROUP, answer) == "answered"
    assert sent.texts() == ["first", "reply"], "the reply went while the card waits its turn"
    await waiting_card
    await lines.drained()

    assert sent.texts() == ["first", "reply", "card", "round formed"]
    times = {text: at for at, _, text in sent.log}
    assert times["reply"] - times["first"] < interval / 2, "the reply did not wait a turn"
    assert times["card"] - times["first"] >= interval * 0.9, "cards and texts stay spaced"
    assert times["round formed"] - times["card"] >= interval * 0.9


async def test_cards_leave_room_in_the_window_for_replies() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL, card_interval=0)
    drawn = 0

    async def draw() -> bool:
        nonlocal drawn
        drawn += 1
        await sent.send(GROUP, f"card {drawn}")
        return True

    async def answer(n: int) -> None:
        await sent.send(GROUP, f"reply {n}")

    waits = []
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < lines.window * 2.5:  # taps go on and on
        lines.refresh(GROUP, "deal 1", draw)
        if time.monotonic() - started > n * lines.window / 4:
            asked = time.monotonic()
            await lines.reply(GROUP, lambda n=n: answer(n))
            waits.append(time.monotonic() - asked)
            n += 1
        await asyncio.sleep(INTERVAL / 5)
    await lines.drained()

    assert len(waits) >= 9
    assert max(waits) < INTERVAL, "replies go at once, however busy the cards"
    times = [at for at, _, _ in sent.log]
    for at in times:  # no window of the group holds more than its 20 sends
        assert sum(1 for t in times if at <= t < at + lines.window * 0.98) <= 20
    card_times = [at for at, _, text in sent.log if text.startswith("card")]
    assert all(b - a >= INTERVAL * 0.9 for a, b in itertools.pairwise(card_times))
    for at in card_times:  # the cards leave five of every window's twenty to replies
        assert sum(1 for t in card_times if at <= t < at + lines.window * 0.98) <= 15


async def test_a_burst_of_redraws_of_one_card_is_one_edit_per_card_interval() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=0.01, card_interval=0.3)
    state = {"members": 0}

    async def draw() -> bool:
        await sent.send(GROUP, f"card: {state['members']} members")
        return True

    started = time.monotonic()
    while time.monotonic() - started < 0.5:  # taps for half a second
        state["members"] += 1
        lines.refresh(GROUP, "deal 1", draw)
        await asyncio.sleep(0.01)
    await lines.drained()

    cards = sent.texts()
    assert 2 <= len(cards) <= 3, cards  # at once, then once per 0.3 s
    assert cards[-1] == f"card: {state['members']} members", "the last edit shows the truth"
    assert all(gap >= 0.3 * 0.9 for gap in sent.gaps())


async def test_a_redraw_that_changes_nothing_gives_its_turn_back() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=0.5)

    async def unchanged() -> bool:
        return False

    lines.post(GROUP, "first")
    await lines.drained()
    started = time.monotonic()
    lines.refresh(GROUP, "deal 1", unchanged)
    lines.post(GROUP, "second")
    await lines.drained()
    assert sent.texts() == ["first", "second"]
    assert time.monotonic() - started < 0.9


async def test_a_flush_draws_waiting_cards_at_once() -> None:
    sent = Sent()
    lines = GroupLines(sent.send, interval=0.01, card_interval=60)

    async def draw() -> bool:
        await sent.send(GROUP, "card")
        return True

    lines.refresh(GROUP, "deal 1", draw)
    await lines.drained()
    lines.refresh(GROUP, "deal 1", draw)  # within its card interval: waits...
    started = time.monotonic()
    await lines.flush()  # ...unless the bot is stopping
    assert sent.texts() == ["card", "card"]
    assert time.monotonic() - started < 1


async def test_the_overall_budget_lets_a_reply_pass_the_messages_waiting() -> None:
    budget = Budget(20)  # 20 at once, then one per 0.05 s
    started = time.monotonic()
    for _ in range(20):
        await budget.acquire()
    assert time.monotonic() - started < 0.05
    served: list[str] = []

    async def take(name: str, urgent: bool = False) -> None:
        await budget.acquire(urgent)
        served.append(name)

    waiting = [asyncio.create_task(take(f"private {n}")) for n in range(3)]
    await asyncio.sleep(0)
    gone = asyncio.create_task(take("gone"))
    await asyncio.sleep(0)
    gone.cancel()  # a caller that stops waiting takes nothing from the budget
    await asyncio.sleep(0)
    await asyncio.gather(*waiting, take("reply", urgent=True))
    assert served == ["reply", "private 0", "private 1", "private 2"]
    assert time.monotonic() - started >= 4 * 0.05 * 0.9, "one per 1/rate s"


async def test_the_overall_budget_serves_groups_before_private_messages() -> None:
    # A deadline storm: no group's announcement waits behind another group's private
    # confirmations (bench/many_groups.py measured 1,000 groups at once).
    budget = Budget(20)
    for _ in range(20):
        await budget.acquire()
    served: list[str] = []

    async def take(name: str, urgent: bool = False, private: bool = False) -> None:
        await budget.acquire(urgent, private=private)
        served.append(name)

    privates = [asyncio.create_task(take(f"private {n}", private=True)) for n in range(3)]
    await asyncio.sleep(0)
    groups = [asyncio.create_task(take(f"group {n}")) for n in range(2)]
    await asyncio.sleep(0)
    await asyncio.gather(*privates, *groups, take("reply", urgent=True))
    assert served == ["reply", "group 0", "group 1", "private 0", "private 1", "private 2"]


async def test_a_posted_text_tells_when_it_has_gone() -> None:
    # A round's members hear privately only once the group has heard (Notifier.closed).
    sent = Sent()
    lines = GroupLines(sent.send, interval=INTERVAL)
    first = lines.post(GROUP, "round 1 formed")
    await first
    assert sent.texts() == ["round 1 formed"]
    second, third = lines.post(GROUP, "round 2 formed"), lines.post(GROUP, "round 3 formed")
    assert not second.done(), "the group's pace holds it"
    await asyncio.gather(second, third)
    assert sent.texts()[-1] == f"round 2 formed{SEPARATOR}round 3 formed"
    sent.fail_next = True
    await lines.post(GROUP, "lost")  # a failed send resolves it too: it is never repeated
    assert sent.texts()[-1] != "lost"


# -- the Bot API hook: pacing and retries ------------------------------------------------


class Calls:
    """A Bot API call that fails as told, then succeeds; counts its attempts."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.attempts: list[float] = []

    async def __call__(self) -> bool:
        self.attempts.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        return True


def transport_error(cause: BaseException, cls: type[NetworkError] = NetworkError) -> Exception:
    """A PTB error as bot/http.py raises it: aiohttp's (or aiohttp-socks') error as its cause."""
    error = cls("transport")
    error.__cause__ = cause
    return error


REFUSED = aiohttp.ClientConnectorError(
    ConnectionKey("127.0.0.1", 1, False, True, None, None, None), ConnectionRefusedError(111, "no")
)


def outbound(**overrides: float) -> Outbound:
    settings: dict[str, Any] = {"group_interval": 0.05, "first_pause": 0.01} | overrides
    return Outbound(**settings)


async def call(out: Outbound, calls: Calls, endpoint: str, chat_id: int = 42) -> object:
    return await out.process_request(calls, (), {}, endpoint, {"chat_id": chat_id}, None)


async def test_a_send_whose_answer_never_came_is_not_sent_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls(transport_error(aiohttp.SocketTimeoutError(), TimedOut))
    with pytest.raises(TimedOut):
        await call(outbound(), calls, "sendMessage")
    assert len(calls.attempts) == 1
    assert any("not sent again" in r.getMessage() for r in caplog.records)


async def test_an_edit_whose_answer_never_came_is_made_again() -> None:
    calls = Calls(transport_error(aiohttp.SocketTimeoutError(), TimedOut))
    assert await call(outbound(), calls, "editMessageText") is True
    assert len(calls.attempts) == 2


@pytest.mark.parametrize(
    "failure",
    [
        transport_error(REFUSED),
        transport_error(aiohttp.ConnectionTimeoutError(), TimedOut),
        transport_error(aiohttp_socks.ProxyConnectionError("proxy refused")),
        transport_error(aiohttp_socks.ProxyError("Proxy Authentication Required", 407)),
        NetworkError("Bad Gateway"),  # Telegram's gateway answered 502
    ],
    ids=["refused", "connect-timeout-or-no-free-connection", "proxy-refused", "proxy-407", "502"],
)
async def test_a_send_that_never_left_is_sent_again(failure: Exception) -> None:
    calls = Calls(failure)
    assert await call(outbound(), calls, "sendMessage") is True
    assert len(calls.attempts) == 2


async def test_a_429_is_waited_out_and_a_bad_request_is_not_retried() -> None:
    calls = Calls(RetryAfter(1))
    assert await call(outbound(), calls, "sendMessage") is True
    assert calls.attempts[1] - calls.attempts[0] >= 0.95

    wrong = Calls(BadRequest("message text is empty"))
    with pytest.raises(BadRequest):
        await call(outbound(), wrong, "sendMessage")
    assert len(wrong.attempts) == 1


async def test_getupdates_is_left_to_ptbs_own_retries() -> None:
    calls = Calls(transport_error(REFUSED))
    with pytest.raises(NetworkError):
        await call(outbound(), calls, "getUpdates")
    assert len(calls.attempts) == 1


async def test_group_replies_go_at_once_within_the_window_and_tap_answers_never_wait() -> None:
    out = outbound(group_interval=0.02)  # a window of 20 sends in 0.4 s
    replies = [Calls() for _ in range(25)]
    answers = [Calls() for _ in range(20)]
    started = time.monotonic()
    await asyncio.gather(
        *(call(out, c, "sendMessage", GROUP) for c in replies),
        *(call(out, c, "answerCallbackQuery", 7) for c in answers),
    )
    sends = sorted(c.attempts[0] for c in replies)
    assert sends[19] - started < 0.1, "twenty at once: the window has room"
    assert sends[20] - sends[0] >= 0.4 * 0.9, "the twenty-first waits for the window"
    assert max(c.attempts[0] for c in answers) - started < 0.1, "answers are not held back"
    assert await call(out, Calls(), "sendMessage", 7) is True  # private chats: no group pace
