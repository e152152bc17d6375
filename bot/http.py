"""PTB's transport: small JSON calls on a lean keep-alive HTTP/1.1 client (`bot.wire`),
uploads on aiohttp.

Measured with bench/flash_sale.py: under a burst of taps, httpx's connection pool spent
about half of the bot's CPU checking every pooled connection on every request, and
aiohttp in turn three times the CPU of `bot.wire` on each small request.
"""

from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot import callbacks
from bot.wire import Pool, ProtocolError

USER_AGENT = {"User-Agent": BaseRequest.USER_AGENT}
JSON_HEADERS = f"User-Agent: {BaseRequest.USER_AGENT}\r\nContent-Type: application/json\r\n"


class BotApiRequest(BaseRequest):
    """A connection pool per bot (or per getUpdates), opened by PTB's initialize()."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._pool: Pool | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call does not name one."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the pool (PTB calls this when the bot is initialized); aiohttp's session
        opens with the first upload."""
        if self._pool is None:
            self._pool = Pool(self._pool_size)

    async def shutdown(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API request: a JSON body, or multipart when there are files."""
        if self._pool is None:
            raise RuntimeError("BotApiRequest is not initialized")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        if request_data is not None and request_data.contains_files:
            return await self._upload(url, method, request_data, read, connect)
        body = request_data.json_payload if request_data is not None else b""
        try:
            return await self._pool.post(
                url, body, JSON_HEADERS, connect_timeout=connect, read_timeout=read
            )
        except TimeoutError as err:
            raise TimedOut from err
        except (OSError, ProtocolError) as err:
            raise NetworkError(f"{err.__class__.__name__}: {err}") from err

    async def _upload(
        self,
        url: str,
        method: str,
        request_data: RequestData,
        read: float | None,
        connect: float | None,
    ) -> tuple[int, bytes]:
        """A request with files, as multipart form data, on aiohttp."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        form = aiohttp.FormData()
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, (filename, content, mime) in request_data.multipart_data.items():
            form.add_field(name, content, filename=filename, content_type=mime)
        try:
            async with self._session.request(
                method, url, data=form, timeout=timeout, headers=USER_AGENT
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


class PollingRequest(BotApiRequest):
    """The getUpdates transport: drops what the bot never reads before PTB parses it.

    Every tap arrives with the whole message it sits under, formatting entities and
    keyboard included, and PTB builds an object for every field, entity and button: in
    a flash sale that was over a third of the CPU spent on a tap (bench/flash_sale.py).

    - A tap on a deal card in a group loses the message whole, as Telegram itself sends
      taps on old messages: the button names the deal, and the deal knows its chat.
    - Any other tap keeps its message without entities, and without the keyboard unless
      its handler reads it (the mark panel's).
    """

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        """The decoded answer, with tapped messages cut down to what handlers read."""
        data = BaseRequest.parse_json_payload(payload)
        updates = data.get("result")
        for update in updates if isinstance(updates, list) else ():
            if isinstance(update, dict):
                trim_update(update)
        return data


def trim_update(update: JSONDict) -> None:
    """Cut a tapped message down to what handlers read (in place)."""
    query = update.get("callback_query")
    if isinstance(query, dict) and isinstance(message := query.get("message"), dict):
        _trim(query, message)


def _trim(query: JSONDict, message: JSONDict) -> None:
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
