"""Telegram Payments' pieces alone: the provider token setting, its masking, the payload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.core.links import Links
from bot.redact import hide_secrets_of, scrub
from tests.conftest import PROVIDER_TOKEN, TOKEN


def test_the_provider_token_comes_from_the_environment_and_is_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("GROUPBUY_TELEGRAM__TOKEN", TOKEN)
    monkeypatch.setenv("GROUPBUY_PAYMENTS__PROVIDER_TOKEN", PROVIDER_TOKEN)
    settings = load_settings(None, storage={"path": tmp_path / "x.db"})
    token = settings.payments.provider_token
    assert token is not None and token.get_secret_value() == PROVIDER_TOKEN
    assert PROVIDER_TOKEN not in repr(settings)
    hide_secrets_of(settings)
    logging.getLogger("test").warning("sending with provider_token=%s", PROVIDER_TOKEN)
    assert PROVIDER_TOKEN.partition(":")[2] not in caplog.text and "***" in caplog.text
    assert PROVIDER_TOKEN.partition(":")[2] not in scrub(f"token {PROVIDER_TOKEN}")


def test_a_malformed_provider_token_is_named_without_being_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROUPBUY_TELEGRAM__TOKEN", TOKEN)
    monkeypatch.setenv("GROUPBUY_PAYMENTS__PROVIDER_TOKEN", "not a token secret-77")
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    message = str(error.value)
    assert "payments.provider_token" in message and "GROUPBUY_PAYMENTS__PROVIDER_TOKEN" in message
    assert "secret-77" not in message


def test_without_a_provider_token_payments_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUPBUY_TELEGRAM__TOKEN", TOKEN)
    monkeypatch.setenv("GROUPBUY_PAYMENTS__PROVIDER_TOKEN", "")
    assert load_settings(None).payments.provider_token is None


def test_invoice_payloads_are_signed_and_short() -> None:
    links = Links(b"secret")
    payload = links.invoice(123456789012345)
    assert len(payload.encode()) <= 128
    assert links.invoice_order(payload) == 123456789012345
    assert links.invoice_order(links.invoice(7)) == 7
    assert links.invoice_order("o7_" + "A" * 12) is None
    assert links.invoice_order(Links(b"other").invoice(7)) is None
    assert links.invoice_order(links.deal(7)) is None
    assert links.invoice_order("") is None
