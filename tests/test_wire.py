"""The lean HTTP/1.1 client: answers read whole, connections kept, every failure an error."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.wire import Pool, ProtocolError, parse_response, target

JSON = "Content-Type: application/json\r\n"
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'

Answer = Callable[[bytes], Awaitable[bytes | None]]


class Server:
    """A bare HTTP server on 127.0.0.1 whose answers (raw bytes) a test chooses.

    The answer function gets the request body; None closes the connection unanswered.
    """

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.close_after_answer = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # its handler sees the end of input and returns
        await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{port}/bot123:ABC/sendMessage"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((lines[0], headers, body))
                answer = await self.answer(body)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    return
        finally:
            self.open_now -= 1
            writer.close()


async def ok(_: bytes) -> bytes:
    return OK


@pytest.fixture
async def pool() -> AsyncIterator[Pool]:
    pool = Pool(8)
    yield pool
    pool.close()


async def post(pool: Pool, server: Server, body: bytes = b'{"chat_id":1}') -> tuple[int, bytes]:
    return await pool.post(server.url, body, JSON, connect_timeout=2, read_timeout=2)


def test_a_whole_answer_is_read_and_a_partial_one_waited_for() -> None:
    assert parse_response(bytearray(OK)) == (200, b'{"ok":true}', True, len(OK))
    for cut in (10, OK.index(b"\r\n\r\n") + 2, len(OK) - 1):
        assert parse_response(bytearray(OK[:cut])) is None
    closing = OK.replace(b"HTTP/1.1 200 OK", b"HTTP/1.1 429 Too Many").replace(
        b"Content-Length", b"Connection: close\r\nContent-Length"
    )
    assert parse_response(bytearray(closing))[:3] == (429, b'{"ok":true}', False)  # type: ignore[index]
    old = OK.replace(b"HTTP/1.1", b"HTTP/1.0")
    assert parse_response(bytearray(old))[2] is False  # type: ignore[index]
    assert parse_response(bytearray(b"HTTP/1.1 204 No Content\r\n\r\n")) == (204, b"", True, 27)


def test_a_chunked_answer_is_put_together() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"ok\r\n7;ext=1\r\n":true}\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 next'
    )
    status, body, keep, used = parse_response(bytearray(raw))  # type: ignore[misc]
    assert (status, body, keep) == (200, b'{"ok":true}', True)
    assert raw[used:] == b"HTTP/1.1 next", "the next answer's bytes are left alone"
    for cut in range(len(raw) - len(b"HTTP/1.1 next")):
        assert parse_response(bytearray(raw[:cut])) is None


def test_what_is_not_http_is_refused() -> None:
    for raw in (
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",  # no length, not chunked
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20_000,
    ):
        with pytest.raises(ProtocolError):
            parse_response(bytearray(raw))


def test_urls_are_split_once_and_checked() -> None:
    where = target("https://api.telegram.org/bot1:A/getMe?x=1")
    assert (where.host, where.port, where.path, where.host_header) == (
        "api.telegram.org",
        443,
        "/bot1:A/getMe?x=1",
        "api.telegram.org",
    )
    assert target("http://127.0.0.1:8081/bot1:A/getMe").host_header == "127.0.0.1:8081"
    with pytest.raises(ValueError):
        target("ftp://example.org/x")


async def test_requests_go_out_whole_on_one_kept_connection(pool: Pool) -> None:
    async with Server(ok) as server:
        for n in range(3):
            assert await post(pool, server, f'{{"n":{n}}}'.encode()) == (200, b'{"ok":true}')
        host = server.url.split("/")[2]
    assert server.connections == 1
    line, headers, body = server.requests[2]
    assert line == "POST /bot123:ABC/sendMessage HTTP/1.1"
    assert headers["host"] == host
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"n": 2}


async def test_a_closed_connection_is_not_used_again(pool: Pool) -> None:
    async with Server(ok) as server:
        server.close_after_answer = True  # the server hangs up after each answer
        assert (await post(pool, server))[0] == 200
        await asyncio.sleep(0.05)
        assert (await post(pool, server))[0] == 200
    assert server.connections == 2

    async def closing(_: bytes) -> bytes:
        return OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    async with Server(closing) as server:
        await post(pool, server)
        await post(pool, server)
    assert server.connections == 2, "Connection: close is honoured"


async def test_no_answer_in_time_is_a_time_out_and_the_next_request_works(pool: Pool) -> None:
    slow = asyncio.Event()

    async def answer(_: bytes) -> bytes:
        if not slow.is_set():
            slow.set()
            await asyncio.sleep(5)
        return OK

    async with Server(answer) as server:
        with pytest.raises(TimeoutError):
            await pool.post(server.url, b"{}", JSON, connect_timeout=2, read_timeout=0.2)
        assert (await post(pool, server))[0] == 200
    assert server.connections == 2, "the timed-out connection was dropped"


async def test_a_dropped_refused_or_garbled_connection_is_an_error(pool: Pool) -> None:
    async def hang_up(_: bytes) -> None:
        return None

    async with Server(hang_up) as server:
        with pytest.raises(ConnectionError):
            await post(pool, server)
        url = server.url
    with pytest.raises(OSError):
        await pool.post(url, b"{}", JSON, connect_timeout=2, read_timeout=2)

    async def garbage(_: bytes) -> bytes:
        return b"HELLO\r\n\r\n"

    async with Server(garbage) as server:
        with pytest.raises(ProtocolError):
            await post(pool, server)


async def test_the_pool_never_opens_more_connections_than_its_size() -> None:
    async def slow(_: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return OK

    small = Pool(2)
    async with Server(slow) as server:
        answers = await asyncio.gather(*(post(small, server) for _ in range(8)))
    small.close()
    assert [status for status, _ in answers] == [200] * 8
    assert server.most_open == 2


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (key, cert), made by the openssl command."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True)
    return key, cert


async def test_https_is_verified(certificate: tuple[Path, Path], pool: Pool) -> None:
    key, cert = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with Server(ok, tls=served) as server:
        with pytest.raises(ssl.SSLError):
            await post(pool, server)  # self-signed: not trusted by the system
        trusting = Pool(2, tls=ssl.create_default_context(cafile=str(cert)))
        assert await post(trusting, server) == (200, b'{"ok":true}')
        trusting.close()


def test_an_interim_answer_is_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n" + OK
    assert parse_response(bytearray(raw)) == (200, b'{"ok":true}', True, len(raw))
    assert parse_response(bytearray(b"HTTP/1.1 100 Continue\r\n\r\n")) is None


async def test_a_kept_connection_the_server_dropped_is_replaced_once(pool: Pool) -> None:
    answered = 0

    async def drop_the_second(_: bytes) -> bytes | None:
        nonlocal answered
        answered += 1
        return None if answered == 2 else OK  # the kept connection dies unheard

    async with Server(drop_the_second) as server:
        assert (await post(pool, server))[0] == 200
        assert (await post(pool, server))[0] == 200, "sent again on a new connection"
    assert server.connections == 2
    assert len(server.requests) == 3


async def test_a_connection_idle_too_long_is_not_used_again(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.wire.MAX_IDLE", 0.05)
    async with Server(ok) as server:
        await post(pool, server)
        await post(pool, server)
        assert server.connections == 1
        await asyncio.sleep(0.1)
        await post(pool, server)
    assert server.connections == 2
