"""A lean HTTP/1.1 client for the Bot API's small JSON calls: keep-alive connections, one
request at a time on each, nothing else.

Measured on this project's 2-core machine against a local server (64 connections):
aiohttp spends 160-300 us of CPU on such a request, an asyncio protocol that writes the
request in one piece and reads a Content-Length answer 50-90 us. A flash sale makes
one request per tap, so this is the bot's largest cost after PTB itself. Uploads (and
anything else) stay on aiohttp.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # bytes of status line and headers we accept
# Seconds an idle connection is kept: below common server keep-alive limits (nginx: 75,
# aiohttp: 15), and short enough that a flow a NAT forgot is not tried.
MAX_IDLE = 10.0
BODYLESS = frozenset({204, 304})


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 we can read."""


@dataclass(frozen=True)
class Target:
    """Where a URL goes: the connection it needs and the request line's path."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@lru_cache(maxsize=256)
def target(url: str) -> Target:
    """The parts of an http(s) URL that a request needs (ValueError for anything else)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme}://…")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path)


def parse_response(buffer: bytearray) -> tuple[int, bytes, bool, int] | None:
    """(status, body, keep-alive, bytes used) of the response at the buffer's start, or
    None while it is incomplete. Raises ProtocolError for what is not HTTP/1.x."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise ProtocolError("response head too long")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:40]!r}")
    status = int(code)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError("malformed header line")
        headers[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    start = end + 4
    if 100 <= status < 200 and status != 101:
        # An interim answer (100 Continue, 103 Early Hints): the real one follows.
        rest_parsed = parse_response(buffer[start:])
        if rest_parsed is None:
            return None
        final_status, body, keep, used = rest_parsed
        return final_status, body, keep, start + used
    if status in BODYLESS or status == 101:
        return status, b"", keep, start
    if "chunked" in headers.get("transfer-encoding", "").lower():
        dechunked = _dechunk(buffer, start)
        if dechunked is None:
            return None
        body, used = dechunked
        return status, body, keep, used
    length = headers.get("content-length")
    if length is None or not length.isdigit():
        raise ProtocolError("response without a length")
    stop = start + int(length)
    if len(buffer) < stop:
        return None
    return status, bytes(buffer[start:stop]), keep, stop


def _dechunk(buffer: bytearray, position: int) -> tuple[bytes, int] | None:
    """A chunked body from `position`: (body, end), or None while incomplete."""
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError("malformed chunk size") from None
        position = line_end + 2
        if size == 0:
            # Trailers, if any, end with an empty line.
            while True:
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    return None
                empty = line_end == position
                position = line_end + 2
                if empty:
                    return bytes(body), position
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection: a request is written whole, its answer read whole."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.usable = False
        self.heard = False  # whether the server sent anything since the last request
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Connected."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.usable = True

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed by either side: whoever waits for an answer gets an error."""
        self.usable = False
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        """Collect bytes; hand the answer over once it is whole."""
        self.heard = True
        self._buffer += data
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            parsed = parse_response(self._buffer)
        except ProtocolError as exc:
            self._fail(exc)
            self.close()
            return
        if parsed is not None:
            status, body, keep, used = parsed
            del self._buffer[:used]
            self.usable = keep and not self._buffer
            self._answer.set_result((status, body))

    async def exchange(self, request: bytes, read_timeout: float | None) -> tuple[int, bytes]:
        """Send `request`, wait for its answer (TimeoutError after `read_timeout` s)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = answer = loop.create_future()
        self.usable = False  # until the answer says the connection may be used again
        self.heard = False
        timer = None if read_timeout is None else loop.call_later(read_timeout, self._time_out)
        try:
            self.transport.write(request)
            status, body = await answer
        finally:
            if timer is not None:
                timer.cancel()
            self._answer = None
            self.idle_since = loop.time()
        return status, body

    def _time_out(self) -> None:
        self._fail(TimeoutError("no answer in time"))
        self.close()

    def _fail(self, exc: BaseException) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def close(self) -> None:
        """Drop the connection at once (its pending answer, if any, fails)."""
        self.usable = False
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Up to `size` connections in all; idle ones are reused, newest first. HTTPS is
    verified against the system's certificates unless `tls` says otherwise."""

    def __init__(self, size: int, tls: ssl.SSLContext | None = None) -> None:
        self._slots = asyncio.Semaphore(size)
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._all: set[Connection] = set()
        self._tls = tls

    async def post(
        self,
        url: str,
        body: bytes,
        headers: str,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> tuple[int, bytes]:
        """POST `body` (with `headers`, CRLF-terminated lines) and return (status, body).

        Raises TimeoutError, OSError (refused, reset, closed) or ProtocolError.
        """
        where = target(url)
        request = (
            f"POST {where.path} HTTP/1.1\r\nHost: {where.host_header}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            connection = self._reuse(where)
            if connection is not None:
                try:
                    return await self._exchange(where, connection, request, read_timeout)
                except ConnectionError:
                    if connection.heard:
                        raise
                    # The server closed the kept connection before our request reached
                    # it (it had nothing to say): a new connection, once.
            connection = await self._connect(where, connect_timeout)
            return await self._exchange(where, connection, request, read_timeout)

    async def _exchange(
        self, where: Target, connection: Connection, request: bytes, read_timeout: float | None
    ) -> tuple[int, bytes]:
        try:
            answer = await connection.exchange(request, read_timeout)
        except BaseException:
            self._drop(connection)
            raise
        if connection.usable:
            self._idle.setdefault(where.origin, []).append(connection)
        else:
            self._drop(connection)
        return answer

    def _reuse(self, where: Target) -> Connection | None:
        """The newest idle connection still worth using; any passed over are closed."""
        idle = self._idle.get(where.origin)
        oldest = asyncio.get_running_loop().time() - MAX_IDLE
        while idle:
            connection = idle.pop()
            closing = connection.transport is None or connection.transport.is_closing()
            if connection.usable and not closing and connection.idle_since >= oldest:
                return connection
            self._drop(connection)
        return None

    def _drop(self, connection: Connection) -> None:
        connection.close()
        self._all.discard(connection)

    async def _connect(self, where: Target, connect_timeout: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if where.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        _, connection = await asyncio.wait_for(
            loop.create_connection(
                Connection,
                where.host,
                where.port,
                ssl=tls,
                server_hostname=where.host if tls else None,
            ),
            connect_timeout,
        )
        self._all.add(connection)
        return connection

    def close(self) -> None:
        """Close every connection."""
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()
