"""Button data and deep-link payloads: round trips, and nothing forged gets through."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.callbacks import Action
from bot.links import Links


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
