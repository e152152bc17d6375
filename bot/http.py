"""How the bot reaches the Bot API: PTB's own httpx transport (`HTTPXRequest`), through a
proxy when one is set, with tapped messages trimmed before PTB parses them."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

import certifi
import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from bot import callbacks
from bot.config import TelegramSettings

# Connections to the Bot API at most. httpx's pool looks at every connection (and, for
# each idle one, at every connection again) each time a request starts or ends, so its
# CPU grows with this size: in a burst of 1,000 taps (bench/flash_sale.py) the bot spent
# 5.8 s of CPU with 32 connections, 3.3-3.8 s with 16 and no less with 4 or 8 (requests
# then queue inside httpx, which it scans as well). 16 still carry 300+ requests a second
# to Telegram 50 ms away; more requests wait in turn.
POOL_SIZE = 16
# A request waits for a free connection this long before it fails. PTB's default (1 s)
# fails requests in a burst: 256 handlers answering 1,000 taps queue for 16 connections,
# and the queue moves at the speed of the server, not of a timer. 60 s still ends a wait
# on a server that stopped answering, long after its read time-out (5 s) made way.
POOL_TIMEOUT = 60.0
# Seconds to connect (a proxy adds a round trip, and a SOCKS proxy one more), to send a
# small request and to read its answer: a Bot API server answers in well under a second,
# and PTB retries nothing, so a dead connection must fail soon enough for our own retry.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
# getUpdates holds its answer up to poll_timeout: it may be read this much longer.
POLL_READ_MARGIN = 10.0


def telegram_requests(
    telegram: TelegramSettings, *, pool_size: int = POOL_SIZE
) -> tuple[BaseRequest, BaseRequest]:
    """The general request (every Bot API call but getUpdates) and the getUpdates one.

    Both go through `telegram.proxy` when set; else httpx honours HTTPS_PROXY, ALL_PROXY
    and NO_PROXY from the environment (and SSL_CERT_FILE, unless `telegram.ca_file`).
    `pool_size` is for experiments (bench/ceiling_bot.py).
    """
    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "write_timeout": WRITE_TIMEOUT,
        "pool_timeout": POOL_TIMEOUT,
        "proxy": telegram.proxy.get_secret_value() or None,
        "httpx_kwargs": _tls(telegram),
    }
    general = HTTPXRequest(connection_pool_size=pool_size, read_timeout=READ_TIMEOUT, **options)
    polling = PollingRequest(
        connection_pool_size=1, read_timeout=telegram.poll_timeout + POLL_READ_MARGIN, **options
    )
    return general, polling


def _tls(telegram: TelegramSettings) -> dict[str, Any]:
    """httpx options for a Bot API server (or HTTPS proxy) behind a private CA."""
    if telegram.ca_file is None:
        return {}
    context = ssl.create_default_context(cafile=certifi.where())  # httpx's own default
    context.load_verify_locations(cafile=telegram.ca_file)
    return {"verify": context}


class PollingRequest(HTTPXRequest):
    """The getUpdates transport: drops what the bot never reads before PTB parses it."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        """The decoded answer, each update trimmed by `trim_update`."""
        data = BaseRequest.parse_json_payload(payload)
        updates = data.get("result")
        for update in updates if isinstance(updates, list) else ():
            if isinstance(update, dict):
                trim_update(update)
        return data


def trim_update(update: dict[str, Any]) -> None:
    """Cut a raw update's tapped message down to what the handlers read, in place.

    Every tap arrives with the whole message it sits under, formatting entities and
    keyboard included, and PTB builds an object for every field, entity and button: in
    a flash sale that was over a third of the CPU spent on a tap (bench/flash_sale.py).

    - A tap on a deal card in a group loses the message whole, as Telegram itself sends
      taps on old messages: the button names the deal, and the deal knows its chat.
    - Any other tap keeps its message without entities, and without the keyboard unless
      its handler reads it (the mark panel's).

    Anything else, an update of another kind included, is left as it is.
    """
    query = update.get("callback_query")
    if not isinstance(query, dict) or not isinstance(message := query.get("message"), dict):
        return
    data = query.get("data")
    tap = callbacks.decode(data) if isinstance(data, str) else None
    action = tap.action if tap is not None else None
    chat = message.get("chat")
    in_private = isinstance(chat, dict) and chat.get("type") == "private"
    if action in callbacks.DEAL_ACTIONS and not in_private:
        del query["message"]
        return
    message.pop("entities", None)
    message.pop("caption_entities", None)
    if action not in callbacks.KEYBOARD_READERS:
        message.pop("reply_markup", None)


# ------------------------------------------------------------------ start-up failures


def proxy_for(telegram: TelegramSettings) -> tuple[str, str] | None:
    """(the proxy as scheme://host:port, the setting it came from), or None for none.

    Read like httpx reads it: `telegram.proxy`, else the environment's proxy for the Bot
    API's scheme, then ALL_PROXY, unless NO_PROXY names the Bot API's host.
    """
    if url := telegram.proxy.get_secret_value():
        return _without_credentials(url), "telegram.proxy"
    parts = urlsplit(telegram.base_url)
    environment = getproxies()
    if _bypassed(parts.hostname or "", environment.get("no", "")):
        return None
    for key in (parts.scheme, "all"):
        if url := environment.get(key, ""):
            return _without_credentials(url), f"{key.upper()}_PROXY"
    return None


def _bypassed(host: str, no_proxy: str) -> bool:
    names = [name.strip().lstrip(".") for name in no_proxy.split(",") if name.strip()]
    return "*" in names or any(host == name or host.endswith("." + name) for name in names)


def _without_credentials(url: str) -> str:
    """scheme://host:port of a proxy URL: never its user name or password."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def describe_failure(telegram: TelegramSettings, error: Exception) -> str:
    """One line saying why the Bot API could not be reached, and what to check.

    Names the proxy, if any, by scheme://host:port, and never repeats a proxy's password,
    whatever httpx or PTB put in the error's text.
    """
    cause = error.__cause__
    proxy = proxy_for(telegram)
    said = _scrub(str(error), telegram)
    if "CERTIFICATE_VERIFY_FAILED" in said:
        return (
            f"{said}; if the Bot API server ({_origin(telegram)}) uses a private certificate "
            "authority, name its certificate in telegram.ca_file"
        )
    if proxy is None or not isinstance(error, NetworkError):
        return said
    where, setting = proxy
    if isinstance(cause, httpx.ProxyError):
        said = _scrub(str(cause), telegram) or "refused the connection"
        if "407" in said:
            return (
                f"the proxy {where} refused the credentials ({said}); "
                f"check the user name and password in {setting}"
            )
        return (
            f"the proxy {where} did not carry the connection to {_origin(telegram)} ({said}); "
            f"check {setting} and that the proxy may reach the Bot API"
        )
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout) or isinstance(error, TimedOut):
        said = _scrub(str(cause or error), telegram) or error.__class__.__name__
        return (
            f"cannot reach the proxy {where} ({said}); "
            f"check {setting}: the proxy's address and port, and that it runs"
        )
    return f"through the proxy {where}: {said}"


def _origin(telegram: TelegramSettings) -> str:
    return _without_credentials(telegram.base_url)


def _scrub(text: str, telegram: TelegramSettings) -> str:
    """The text with every proxy password (the setting's and the environment's) masked."""
    urls = [telegram.proxy.get_secret_value(), *getproxies().values()]
    for url in urls:
        parts = urlsplit(url) if "://" in url else None
        if parts is not None and parts.password:
            # As written in the URL and as sent (percent-escapes decoded).
            for secret in (parts.password, unquote(parts.password)):
                text = text.replace(secret, "***")
    return text
