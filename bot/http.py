"""How the bot reaches the Bot API: aiohttp under PTB's public `BaseRequest`, through a
proxy when one is set (aiohttp-socks), with tapped messages trimmed before PTB parses them."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass_environment  # type: ignore[attr-defined]

import aiohttp
import aiohttp_socks
import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.config import TelegramSettings
from bot.core import callbacks
from bot.metrics import Metrics

# Connections to the Bot API at most. aiohttp's pool costs next to nothing per request
# whatever its size (httpx's scanned every connection on every request: 70-80 % of the
# bot's CPU in a burst), so the limit is about the server: 64 carry 1,000+ requests a
# second to Telegram 50 ms away, and more requests wait in turn.
POOL_SIZE = 64
# A request waits for a free connection this long before it fails (and was never sent).
# A burst queues hundreds of handlers for the pool, and the queue moves at the speed of
# the server, not of a timer; 60 s still ends a wait on a server that stopped answering,
# long after its read time-out (5 s) made way.
POOL_TIMEOUT = 60.0
# Seconds to connect (a proxy adds a round trip, and a SOCKS proxy one more) and to wait
# for an answer: a Bot API server answers in well under a second, and PTB retries
# nothing, so a dead connection must fail soon enough for our own retry.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 5.0
# An upload may take this much longer than READ_TIMEOUT (aiohttp times the whole wait
# for an answer, sending included).
UPLOAD_MARGIN = 20.0
# getUpdates holds its answer up to poll_timeout: it may be read this much longer.
POLL_READ_MARGIN = 10.0
# An idle connection stays open this long for the next request (aiohttp's default, 15 s,
# closes them between the bursts of a quiet group).
KEEPALIVE = 60.0

JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": BaseRequest.USER_AGENT}
FORM_HEADERS = {"User-Agent": BaseRequest.USER_AGENT}


def telegram_requests(
    telegram: TelegramSettings, *, pool_size: int = POOL_SIZE, metrics: Metrics | None = None
) -> tuple[BaseRequest, BaseRequest]:
    """The general request (every Bot API call but getUpdates) and the getUpdates one.

    Both go through `telegram.proxy` when set, else through the environment's proxy
    (HTTPS_PROXY, then ALL_PROXY, unless NO_PROXY names the Bot API's host), and trust
    `telegram.ca_file` besides the usual authorities. `pool_size` is for experiments
    (bench/ceiling_bot.py); `metrics` counts every call's outcome.
    """
    proxy = _proxy(telegram)
    tls = _tls(telegram)
    general = AiohttpRequest(pool_size, READ_TIMEOUT, proxy=proxy, tls=tls, metrics=metrics)
    polling = PollingRequest(
        1, telegram.poll_timeout + POLL_READ_MARGIN, proxy=proxy, tls=tls, metrics=metrics
    )
    return general, polling


def _tls(telegram: TelegramSettings) -> ssl.SSLContext:
    """The system's authorities (and SSL_CERT_FILE), certifi's, and `telegram.ca_file`."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if telegram.ca_file is not None:
        context.load_verify_locations(cafile=telegram.ca_file)
    return context


class AiohttpRequest(BaseRequest):
    """Bot API calls on one aiohttp session: a pool of `pool_size` kept-alive
    connections, through `proxy` (http, https, socks5 or socks5h URL) if given."""

    def __init__(
        self,
        pool_size: int = POOL_SIZE,
        read_timeout: float = READ_TIMEOUT,
        *,
        proxy: str | None = None,
        tls: ssl.SSLContext | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._proxy = proxy
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=self._connector())

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _connector(self) -> aiohttp.TCPConnector:
        options: dict[str, Any] = {
            "limit": self._pool_size,
            "keepalive_timeout": KEEPALIVE,
            "ssl": self._tls or True,  # True: aiohttp's default verification
        }
        if self._proxy is None:
            return aiohttp.TCPConnector(**options)
        parts = urlsplit(self._proxy)
        return aiohttp_socks.ProxyConnector(
            host=parts.hostname or "",
            port=parts.port or 0,
            proxy_type=(
                aiohttp_socks.ProxyType.SOCKS5
                if parts.scheme.startswith("socks5")
                else aiohttp_socks.ProxyType.HTTP
            ),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            rdns=parts.scheme == "socks5h",  # socks5h: the proxy resolves the Bot API's name
            proxy_ssl=(self._tls or ssl.create_default_context())
            if parts.scheme == "https"
            else None,
            **options,
        )

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """(status, body) of one call; TimedOut or NetworkError, raised from aiohttp's
        (or aiohttp-socks') own error, when it fails."""
        if self._session is None:
            await self.initialize()
        assert self._session is not None
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, CONNECT_TIMEOUT)
        pool = _seconds(pool_timeout, POOL_TIMEOUT)
        data: bytes | aiohttp.FormData | None = None
        headers = FORM_HEADERS
        if request_data is not None and request_data.contains_files:
            data = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
            upload = _seconds(write_timeout, UPLOAD_MARGIN)
            read = None if read is None or upload is None else read + upload
        elif request_data is not None:
            data, headers = request_data.json_payload, JSON_HEADERS
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` is the wait for a pooled connection and connecting.
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                answer = response.status, await response.read()
        except (TimeoutError, aiohttp_socks.ProxyTimeoutError) as err:  # asyncio.TimeoutError
            if self._metrics is not None:
                self._metrics.failed(url, "timeout")
            if isinstance(err, aiohttp.ConnectionTimeoutError | aiohttp_socks.ProxyTimeoutError):
                # No free connection in time, or no connection made: the call was not sent.
                raise TimedOut(f"Timed out: not connected, not sent ({_named(err)})") from err
            raise TimedOut from err  # no answer in time: the call may have been carried out
        except (
            aiohttp.ClientError,
            OSError,
            aiohttp_socks.ProxyError,
            aiohttp_socks.ProxyConnectionError,
            # A SOCKS5 proxy that hangs up in the middle of its handshake (as pproxy does
            # on a wrong password): python-socks lets asyncio's error through.
            asyncio.IncompleteReadError,
        ) as err:
            if self._metrics is not None:
                self._metrics.failed(url, "error")
            raise NetworkError(_named(err)) from err
        if self._metrics is not None:
            self._metrics.answered(url, answer[0])
        return answer


def _seconds(value: object, default: float | None) -> float | None:
    """A time-out argument of `do_request`: `default` unless the caller gave one."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    if value is None or isinstance(value, int | float):
        return value
    return default  # another DefaultValue: the caller gave none


def _named(err: BaseException) -> str:
    """The error as `package.Class: text`, the text of a bare one being empty."""
    kind = type(err)
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}: {err}"


class PollingRequest(AiohttpRequest):
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

    - A tap on a deal card in a group keeps only the message's chat and number, as
      Telegram itself sends taps on old messages (an inaccessible message, date 0): the
      button names the deal, and the chat says whether the tap was made in its group.
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
        if isinstance(chat, dict) and "id" in chat and "type" in chat:
            query["message"] = {
                "chat": {"id": chat["id"], "type": chat["type"]},
                "message_id": message.get("message_id"),
                "date": 0,
            }
        else:
            del query["message"]
        return
    message.pop("entities", None)
    message.pop("caption_entities", None)
    if action not in callbacks.KEYBOARD_READERS:
        message.pop("reply_markup", None)


# ------------------------------------------------------------------ start-up failures


def _proxy(telegram: TelegramSettings) -> str | None:
    """The proxy URL, credentials included, that the Bot API calls go through, or None."""
    found = _proxy_setting(telegram)
    return found[0] if found else None


def _proxy_setting(telegram: TelegramSettings) -> tuple[str, str] | None:
    """(the proxy URL, the setting it came from): `telegram.proxy`, else the environment's
    proxy for the Bot API's scheme (HTTPS_PROXY), then ALL_PROXY, unless NO_PROXY names
    the Bot API's host."""
    if url := telegram.proxy.get_secret_value():
        return url, "telegram.proxy"
    parts = urlsplit(telegram.base_url)
    environment = getproxies()
    if proxy_bypass_environment(parts.netloc or "", environment):
        return None
    for key in (parts.scheme, "all"):
        if url := environment.get(key, ""):
            return (url if "://" in url else f"http://{url}"), f"{key.upper()}_PROXY"
    return None


def proxy_for(telegram: TelegramSettings) -> tuple[str, str] | None:
    """(the proxy as scheme://host:port, the setting it came from), or None for none."""
    found = _proxy_setting(telegram)
    return (_without_credentials(found[0]), found[1]) if found else None


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
    whatever aiohttp, aiohttp-socks or PTB put in the error's text.
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
    if isinstance(cause, aiohttp_socks.ProxyError):
        said = _scrub(str(cause), telegram) or "refused the connection"
        if cause.error_code == 407 or "407" in said:
            return (
                f"the proxy {where} refused the credentials ({said}); "
                f"check the user name and password in {setting}"
            )
        return (
            f"the proxy {where} did not carry the connection to {_origin(telegram)} ({said}); "
            f"check {setting} and that the proxy may reach the Bot API"
        )
    if isinstance(cause, asyncio.IncompleteReadError):  # a SOCKS5 proxy hung up
        return (
            f"the proxy {where} closed the connection in its handshake; "
            f"check the user name and password in {setting}"
        )
    if isinstance(cause, aiohttp_socks.ProxyConnectionError) or isinstance(error, TimedOut):
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
