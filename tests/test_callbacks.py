"""Button data and deep-link payloads: round trips, and nothing forged gets through."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bot.core import callbacks
from bot.core.callbacks import Action
from bot.core.links import Links
from bot.http import PollingRequest, trim_update


def test_button_data_round_trips_and_fits_telegram() -> None:
    for action in Action:
        data = callbacks.encode(action, 123456789012)
        assert len(data.encode()) <= 64
        assert callbacks.decode(data) == callbacks.Tap(action, 123456789012)


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
    assert tap is None or callbacks.encode(tap.action, tap.target, tap.extra) == data


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
