"""Button data and deep-link payloads: round trips, and nothing forged gets through."""

from __future__ import annotations

import ast
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import CallbackQuery, Update, User
from telegram.ext import Application, CallbackQueryHandler

import handlers
from bot.core import callbacks
from bot.core.callbacks import (
    DEAL,
    FORGET,
    KINDS,
    MARKS,
    NAMED_MARKS,
    PAYMENTS,
    SETTINGS,
    Action,
    Buttons,
)
from bot.core.links import Links
from bot.core.settings import QUICK, QUICK_FLAT
from bot.http import PollingRequest, trim_update
from handlers import deals, leaders, marks, payments, privacy, settings
from tests.conftest import ROOT


def kind_of(action: Action) -> Buttons:
    (kind,) = [kind for kind in KINDS if action in kind.actions]
    return kind


def test_button_data_round_trips_and_fits_telegram() -> None:
    for action in Action:
        data = kind_of(action).data(action, 123456789012)
        assert len(data.encode()) <= 64
        assert callbacks.decode(data) == callbacks.Tap(action, 123456789012)


def test_every_action_is_of_exactly_one_kind() -> None:
    assert sorted(a for kind in KINDS for a in kind.actions) == sorted(Action)
    assert callbacks.DEAL_ACTIONS == DEAL.actions
    assert callbacks.CARD_ACTIONS <= DEAL.actions
    assert callbacks.KEYBOARD_READERS == MARKS.actions


def test_button_data_is_what_buttons_already_in_chats_carry() -> None:
    # Buttons sent before the kinds existed must keep reaching their handlers.
    assert DEAL.data(Action.JOIN, 42) == "v1:join:42"
    assert DEAL.data(Action.JOIN_OPTION, 7, 123) == "v1:jo:7:123"
    assert DEAL.data(Action.PICK, 42, 3) == "v1:pick:42:3"
    assert MARKS.data(Action.PAID, 9, callbacks.mark_target(True)) == "v1:paid:9:1"
    assert MARKS.data(Action.COLLECTED, 9, callbacks.mark_target(False)) == "v1:coll:9:2"
    assert SETTINGS.data(Action.SETTING, 3) == "v1:set:3"
    assert PAYMENTS.data(Action.REMIND, 1001234567890) == "v1:remind:1001234567890"
    assert PAYMENTS.data(Action.PAY_NO, 5) == "v1:pno:5"
    assert FORGET.data(Action.FORGET, 5) == "v1:forget:5"


def test_a_kind_builds_only_its_own_buttons() -> None:
    for kind in KINDS:
        for action in set(Action) - kind.actions:
            with pytest.raises(ValueError):
                kind.data(action, 1)


def test_each_kind_matches_exactly_its_own_buttons() -> None:
    for kind in KINDS:
        for action in Action:
            for extra in (None, 1, 987654321):
                data = kind_of(action).data(action, 123, extra)
                assert kind.matches(data) is (action in kind.actions), (kind, data)


# What handlers/__init__.py routed by before the kinds: the kinds route the same taps.
OLD_PATTERNS = {
    MARKS: r"^v1:(paid|coll):",
    SETTINGS: r"^v1:set:",
    PAYMENTS: r"^v1:(ipaid|pok|pno|remind|refd):",  # refd: /refunds, added later
    FORGET: r"^v1:forget:",
}
DATA = st.one_of(
    st.text(max_size=30),
    st.builds(
        "{}:{}:{}".format,
        st.sampled_from(["v1", "v2", ""]),
        st.sampled_from([*Action, "x"]),
        st.text(max_size=8),
    ),
)


@given(DATA)
def test_kinds_route_what_the_old_patterns_routed(data: str) -> None:
    for kind, pattern in OLD_PATTERNS.items():
        assert kind.matches(data) is bool(re.match(pattern, data)), (kind, data)


def test_matching_odd_data_never_raises() -> None:
    for kind in KINDS:
        assert not kind.matches(None) and not kind.matches(b"v1:join:1")
        assert not kind.matches(42) and not kind.matches("")


def registered_taps() -> list[CallbackQueryHandler]:  # type: ignore[type-arg]
    app = Application.builder().token("123:TEST").build()
    handlers.register(app)
    return [
        h for group in app.handlers.values() for h in group if isinstance(h, CallbackQueryHandler)
    ]


def routed_to(data: str) -> object:
    query = CallbackQuery("1", User(5, "A", False), "chat", data=data)
    update = Update(1, callback_query=query)
    return next(h.callback for h in registered_taps() if h.check_update(update))


def test_each_kind_of_button_reaches_its_handler() -> None:
    expected = {
        DEAL: deals.tap,
        MARKS: leaders.mark_tap,
        SETTINGS: settings.setting_tap,
        PAYMENTS: payments.payment_tap,
        FORGET: privacy.forget_tap,
        NAMED_MARKS: marks.named_mark_tap,
    }
    for action in Action:
        kind = kind_of(action)
        assert routed_to(kind.data(action, 1, 2)) is expected[kind], action
    assert routed_to("v9:whatever") is deals.tap  # the catch-all answers it as stale


def test_taps_are_routed_by_the_kinds_not_by_retyped_patterns() -> None:
    taps = registered_taps()
    assert [h.pattern for h in taps[:-1]] == [
        k.matches for k in (MARKS, SETTINGS, PAYMENTS, FORGET, NAMED_MARKS)
    ]
    assert taps[-1].pattern is None  # the catch-all, last
    source = ast.parse((ROOT / "handlers" / "__init__.py").read_text(encoding="utf-8"))
    patterns = [
        keyword.value
        for node in ast.walk(source)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CallbackQueryHandler"
        for keyword in node.keywords
        if keyword.arg == "pattern"
    ]
    assert patterns and not any(isinstance(value, ast.Constant) for value in patterns)


def test_strange_button_data_decodes_to_nothing() -> None:
    for data in (
        "",
        None,
        "v1:join",
        "v1:join:",
        "v1:join:01",
        "v2:join:1",
        "v1:join:١٢",
        "v1:join:1:2:3",
        "v1:join:1:",
    ):
        assert callbacks.decode(data) is None


@given(st.text(max_size=80))
def test_decoding_never_raises(data: str) -> None:
    tap = callbacks.decode(data)
    assert tap is None or kind_of(tap.action).data(tap.action, tap.target, tap.extra) == data


def test_invite_payloads_are_signed() -> None:
    links = Links(b"secret")
    payload = links.referral(42, 1001)
    assert len(payload) <= 64 and payload.replace("_", "").replace("-", "").isalnum()
    parsed = links.parse(payload)
    assert parsed is not None and (parsed.deal_id, parsed.referrer_id) == (42, 1001)
    forged = payload.replace("_1001_", "_1002_")
    assert links.parse(forged) is None
    assert Links(b"other").parse(payload) is None


@given(st.text(max_size=100))
def test_payload_parsing_never_raises(payload: str) -> None:
    Links(b"k").parse(payload)


def _tapped(data: object, chat: dict[str, object] | None = None) -> bytes:
    message = {
        "message_id": 7,
        "date": 1_700_000_000,
        "chat": chat or {"id": -100, "type": "supergroup", "title": "G"},
        "text": "Mangoes",
        "entities": [{"offset": 0, "length": 7, "type": "bold"}],
        "caption_entities": [{"offset": 0, "length": 7, "type": "bold"}],
        "reply_markup": {"inline_keyboard": [[{"text": "Join", "callback_data": "v1:join:1"}]]},
    }
    query = {"id": "1", "from": {"id": 5, "is_bot": False, "first_name": "A"}, "data": data}
    update = {"update_id": 1, "callback_query": {**query, "message": message}}
    return json.dumps({"ok": True, "result": [update, {"update_id": 2}]}).encode()


KEPT = {"chat": {"id": -100, "type": "supergroup"}, "message_id": 7, "date": 0}


def test_polling_keeps_only_the_chat_of_the_group_card_under_a_card_tap() -> None:
    result = PollingRequest().parse_json_payload(_tapped("v1:join:1"))["result"]
    # As Telegram sends a tap on an old message: the chat says where the tap was made.
    assert result[0]["callback_query"]["message"] == KEPT
    assert result[0]["callback_query"]["data"] == "v1:join:1"
    assert result[1] == {"update_id": 2}


def test_polling_keeps_what_other_taps_read() -> None:
    private = {"id": 5, "type": "private", "first_name": "A"}
    for data, chat in (("v1:join:1", private), ("v1:set:3", None), ("v1:ipaid:9", private)):
        result = PollingRequest().parse_json_payload(_tapped(data, chat))["result"]
        message = result[0]["callback_query"]["message"]
        assert message["chat"]["id"] in (5, -100) and message["message_id"] == 7
        assert "entities" not in message and "caption_entities" not in message
        assert "reply_markup" not in message


def test_polling_keeps_the_keyboard_a_mark_panel_tap_reads() -> None:
    for data in ("v1:paid:3", "v1:coll:3"):
        result = PollingRequest().parse_json_payload(_tapped(data))["result"]
        message = result[0]["callback_query"]["message"]
        assert message["reply_markup"]["inline_keyboard"][0][0]["text"] == "Join"
        assert "entities" not in message


def test_polling_passes_odd_payloads_through() -> None:
    for raw in (b'{"ok": false, "error_code": 409}', b'{"ok": true, "result": [1, "x", {}]}'):
        assert PollingRequest().parse_json_payload(raw) == json.loads(raw)


def test_trim_update_cuts_one_raw_update_in_place() -> None:
    # A webhook server hands updates over one at a time, not in a getUpdates answer.
    update = json.loads(_tapped("v1:join:1"))["result"][0]
    assert trim_update(update) is None
    assert update["callback_query"]["message"] == KEPT
    other = {"update_id": 3, "message": {"message_id": 1, "entities": []}}
    trim_update(other)
    assert other == {"update_id": 3, "message": {"message_id": 1, "entities": []}}


def test_quick_settings_keep_their_places_for_old_buttons() -> None:
    """Buttons under an old /settings message name a place in QUICK_FLAT: a new choice is
    appended, so those still mean what they said."""
    assert QUICK_FLAT[:7] == (
        ("lang", "en"),
        ("lang", "zh-Hans"),
        ("summary", "21:00"),
        ("summary", "off"),
        ("levels", "1"),
        ("levels", "2"),
        ("levels", "3"),
    )
    assert sorted(QUICK_FLAT) == sorted(choice for row in QUICK for choice in row)
