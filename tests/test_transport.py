"""Reaching the Bot API: over HTTPS with a private certificate authority, through real
HTTP and SOCKS5 proxies (set, or from the environment), and the one line an operator
reads when that fails."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from bot.config import ConfigError, load_settings
from tests.conftest import GROUP_ID, ROOT, TOKEN, operator_env, running_world
from tests.fakeapi import FakeBotAPI

# The proxies connect onward from this address and the fake API answers no other: a
# request that went around the proxy is refused, so a story that works went through it.
PROXY_EXIT = "127.0.0.2"
PASSWORD = "s3cret-Pa55"  # must never appear in anything the bot prints
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Proxy:
    """A pproxy server in its own process."""

    port: int
    log: Path

    def url(self, scheme: str, credentials: str = "") -> str:
        return f"{scheme}://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def tunnels_to(self, api: FakeBotAPI) -> int:
        """Connections it carried on to the fake API (its verbose log names each)."""
        target = f"-> {api.origin.split('://')[1]}"
        return self.log.read_text().count(target)


@contextmanager
def proxy_server(protocol: str, tmp_path: Path, users: str = "") -> Iterator[Proxy]:
    """pproxy listening on 127.0.0.1 for `protocol` (http or socks5), with `users`
    (user:password) required if given, connecting onward from PROXY_EXIT."""
    proxy = Proxy(free_port(), tmp_path / f"proxy-{protocol}.log")
    listen = f"{protocol}://127.0.0.1:{proxy.port}/@{PROXY_EXIT}" + (f"#{users}" if users else "")
    with proxy.log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v"], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 15
        while True:  # until it listens (a closed probe is all it sees)
            try:
                socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"pproxy did not start: {proxy.log.read_text()}") from None
                time.sleep(0.05)
        yield proxy
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def served_by(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that `ca` signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own proxy settings play no part unless a test sets them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def a_member_joins(api: FakeBotAPI, tmp_path: Path, **telegram: object) -> None:
    """The story every route must carry: a leader posts a deal, a member taps Join and
    is answered."""
    async with running_world(api, tmp_path, "sqlite", **telegram) as world:
        card = await world.leader.posts("Lychees 1 kg\nprice: 8\nmin: 2\ndeadline: 2h")
        answer = await world.member("Ann").taps("Join", card)
        assert answer == "You're in: 1 × Lychees 1 kg — round 1, 1/2"
        assert world.api.calls("sendMessage", chat_id=GROUP_ID)


# ------------------------------------------------------------------------------ TLS


async def test_a_bot_api_behind_a_private_ca_is_trusted_through_ca_file(
    ca: trustme.CA, ca_file: Path, tmp_path: Path
) -> None:
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca)) as api:
        assert api.base_url.startswith("https://")
        await a_member_joins(api, tmp_path, ca_file=str(ca_file))


async def test_ssl_cert_file_in_the_environment_is_trusted_too(
    ca: trustme.CA, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca)) as api:
        await a_member_joins(api, tmp_path)


async def test_an_untrusted_certificate_stops_the_start_with_a_hint(
    ca: trustme.CA, tmp_path: Path
) -> None:
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca)) as api:
        result = await asyncio.to_thread(start_bot, tmp_path, api)
    line = assert_one_clean_line(result)
    assert "CERTIFICATE_VERIFY_FAILED" in line and "telegram.ca_file" in line
    assert api.calls() == [], "no request was sent over an unverified connection"


# -------------------------------------------------------------------------- proxies


@pytest.mark.parametrize(
    ("protocol", "scheme", "users"),
    [
        ("http", "http", ""),
        ("http", "http", f"ann:{PASSWORD}"),
        ("socks5", "socks5", ""),
        ("socks5", "socks5", f"ann:{PASSWORD}"),
        ("socks5", "socks5h", f"ann:{PASSWORD}"),
    ],
)
async def test_every_call_goes_through_the_proxy_setting(
    ca: trustme.CA, ca_file: Path, tmp_path: Path, protocol: str, scheme: str, users: str
) -> None:
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca), only_from=PROXY_EXIT) as api:
        with proxy_server(protocol, tmp_path, users) as proxy:
            proxy_url = proxy.url(scheme, users)
            await a_member_joins(api, tmp_path, ca_file=str(ca_file), proxy=proxy_url)
            assert api.refused_peers == 0
            assert proxy.tunnels_to(api) >= 2, "getUpdates and the other calls"


@pytest.mark.parametrize(
    ("variable", "protocol"), [("HTTPS_PROXY", "http"), ("ALL_PROXY", "socks5")]
)
async def test_the_environment_s_proxy_is_used_when_none_is_set(
    ca: trustme.CA,
    ca_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    protocol: str,
) -> None:
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca), only_from=PROXY_EXIT) as api:
        with proxy_server(protocol, tmp_path, f"ann:{PASSWORD}") as proxy:
            monkeypatch.setenv(variable, proxy.url(protocol, f"ann:{PASSWORD}"))
            await a_member_joins(api, tmp_path, ca_file=str(ca_file))
            assert api.refused_peers == 0
            assert proxy.tunnels_to(api) >= 2


async def test_no_proxy_sends_the_bot_api_around_the_environment_s_proxy(
    api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{free_port()}")  # nothing there
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    await a_member_joins(api, tmp_path)


# ----------------------------------------------------------- what the operator reads


def start_bot(tmp_path: Path, api: FakeBotAPI, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot` against the fake API, as an operator starts it."""
    settings = {
        "GROUPBUY_TELEGRAM__TOKEN": TOKEN,
        "GROUPBUY_TELEGRAM__BASE_URL": api.base_url,
        "GROUPBUY_STORAGE__PATH": str(tmp_path / "bot.db"),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        capture_output=True,
        text=True,
        env=operator_env(**settings, **env),
        cwd=tmp_path,
        timeout=60,
    )


def assert_one_clean_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the operator reads (besides the log's timestamped lines)."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert PASSWORD not in output
    said = [line for line in output.splitlines() if not LOG_LINE.match(line)]
    assert len(said) == 1 and said[0].startswith("groupbuy-bot: cannot start: "), output
    return said[0]


async def test_a_proxy_that_refuses_is_named_in_one_line(api: FakeBotAPI, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    for setting in (
        {"GROUPBUY_TELEGRAM__PROXY": f"http://ann:{PASSWORD}@127.0.0.1:{port}"},
        {"ALL_PROXY": f"socks5://ann:{PASSWORD}@127.0.0.1:{port}"},
    ):
        result = await asyncio.to_thread(start_bot, tmp_path, api, **setting)
        line = assert_one_clean_line(result)
        scheme = "http" if "GROUPBUY_TELEGRAM__PROXY" in setting else "socks5"
        assert f"cannot reach the proxy {scheme}://127.0.0.1:{port}" in line
        assert ("telegram.proxy" if scheme == "http" else "ALL_PROXY") in line
    assert api.calls() == []


async def test_a_proxy_that_refuses_the_password_is_named_in_one_line(
    ca: trustme.CA, ca_file: Path, tmp_path: Path
) -> None:
    async with FakeBotAPI(token=TOKEN, tls=served_by(ca)) as api:
        with proxy_server("http", tmp_path, "ann:the-right-one") as proxy:
            wrong = {
                "GROUPBUY_TELEGRAM__PROXY": proxy.url("http", f"ann:{PASSWORD}"),
                "GROUPBUY_TELEGRAM__CA_FILE": str(ca_file),
            }
            result = await asyncio.to_thread(start_bot, tmp_path, api, **wrong)
            # With every debug line of PTB, aiohttp and aiohttp-socks.
            debug = await asyncio.to_thread(
                start_bot, tmp_path, api, GROUPBUY_LOG_LEVEL="DEBUG", **wrong
            )
    line = assert_one_clean_line(result)
    assert f"the proxy http://127.0.0.1:{proxy.port} refused the credentials" in line
    assert "407" in line and "user name and password in telegram.proxy" in line
    assert debug.returncode == 1
    assert PASSWORD not in debug.stdout + debug.stderr, "not even in the debug log"
    assert "Traceback" not in debug.stdout + debug.stderr
    assert api.calls() == []


def check_config(proxy: str) -> subprocess.CompletedProcess[str]:
    env = operator_env(GROUPBUY_TELEGRAM__TOKEN=TOKEN, GROUPBUY_TELEGRAM__PROXY=proxy)
    command = [sys.executable, "-m", "bot", "check-config"]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def test_check_config_takes_proxy_urls_and_names_a_wrong_one(tmp_path: Path) -> None:
    for good in (
        "http://proxy.example:3128",
        f"https://ann:{PASSWORD}@proxy.example:443",
        f"socks5://ann:{PASSWORD}@10.0.0.1:1080",
        "socks5h://[::1]:1080",
    ):
        settings = load_settings(None, telegram={"token": TOKEN, "proxy": good})
        assert settings.telegram.proxy.get_secret_value() == good
        assert PASSWORD not in repr(settings) + str(settings)
    for bad, says in (
        (f"ftp://ann:{PASSWORD}@proxy.example:21", "must start with http://"),
        (f"proxy.example:{PASSWORD}@host:3128", "must start with http://"),
        (f"http://ann:{PASSWORD}@proxy.example", "names no proxy port"),
        (f"socks5://ann:{PASSWORD}@:1080", "names no proxy host"),
        (f"http://ann:{PASSWORD}@proxy.example:99999", "port must be a number"),
        (f"http://ann:{PASSWORD}@proxy.example:3128/path", "nothing after"),
    ):
        with pytest.raises(ConfigError) as error:
            load_settings(None, telegram={"token": TOKEN, "proxy": bad})
        assert str(error.value).startswith("setting telegram.proxy: "), str(error.value)
        assert says in str(error.value) and PASSWORD not in str(error.value)

    good = check_config(f"socks5://ann:{PASSWORD}@127.0.0.1:1080")
    assert good.returncode == 0 and "config OK" in good.stdout
    bad = check_config(f"socks4://ann:{PASSWORD}@127.0.0.1:1080")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "setting telegram.proxy" in bad.stderr and "GROUPBUY_TELEGRAM__PROXY" in bad.stderr
    assert PASSWORD not in bad.stdout + bad.stderr
