"""The console command: `groupbuy-bot` (and `python -m bot`) runs the bot; its subcommands
check the config, back up the database and apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlsplit

from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import App, Runtime, build_application
from bot.config import ConfigError, Settings, config_path, load_settings
from bot.http import describe_failure
from bot.logs import use_format
from bot.ops import CannotListen
from bot.redact import hide, hide_secrets_of, scrub
from storage import open_store
from storage.copy import copy_store
from storage.engines import StoreUnavailable

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and do what it says; the exit code says how it went."""
    parser = argparse.ArgumentParser(prog="groupbuy-bot", description="Group-buys in Telegram.")
    parser.add_argument("--config", metavar="PATH", help="config file (default: config.toml)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("check-config", help="validate the config and token format, then exit")
    backup = commands.add_parser("backup", help="copy the database safely, even while the bot runs")
    backup.add_argument("path", help="where to write the copy")
    commands.add_parser("migrate", help="apply database migrations and print the schema version")
    move = commands.add_parser(
        "migrate-store", help="copy an SQLite store into PostgreSQL, verified; safe to re-run"
    )
    move.add_argument("--from", dest="source", required=True, help="sqlite:///path/to.db")
    move.add_argument("--to", dest="target", required=True, help="postgresql://…")
    move.add_argument("--schema", default="public", help="PostgreSQL schema (default public)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except ConfigError as exc:
        say(f"groupbuy-bot: {exc}", error=True)
        return 2
    hide_secrets_of(settings)
    _logging(settings)
    if args.command == "check-config":
        say(f"config OK: store {settings.storage.path}, time zone {settings.timezone}")
        return 0
    if args.command == "backup":
        return backup_database(settings.storage.path, Path(args.path))
    try:
        if args.command == "migrate-store":
            return move_store(args.source, args.target, args.schema)
        if args.command == "migrate":
            version = asyncio.run(_migrate(settings))
            say(f"schema version {version}")
            return 0
    except StoreUnavailable as exc:
        say(f"groupbuy-bot: {exc}", error=True)
        return 1
    try:
        asyncio.run(_run(build_application(settings)))
    except InvalidToken:
        # PTB's text quotes the token; ours names the setting instead.
        say(
            "groupbuy-bot: cannot start: Telegram refused the token (or telegram.base_url is"
            " not a Bot API server); check telegram.token",
            error=True,
        )
        return 1
    except (NetworkError, TelegramError) as exc:
        reason = describe_failure(settings.telegram, exc)
        say(f"groupbuy-bot: cannot start: {reason}", error=True)
        return 1
    except (StoreUnavailable, CannotListen) as exc:
        say(f"groupbuy-bot: cannot start: {exc}", error=True)
        return 1
    return 0


def say(line: str, *, error: bool = False) -> None:
    """Print a line for the operator (stderr for errors), never with a secret in it."""
    print(scrub(line), file=sys.stderr if error else sys.stdout)


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    use_format(settings.log_format)  # "json": one JSON object per line (bot/logs.py)


def backup_database(source: Path, target: Path) -> int:
    """SQLite's online backup: a consistent copy while the bot keeps writing."""
    if not source.is_file():
        say(f"groupbuy-bot: no database at {source}", error=True)
        return 1
    try:
        # Made empty and the owner's only before a byte is copied (SQLite gives its
        # journal the same mode); O_EXCL never overwrites a file that appeared meanwhile.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        say(f"groupbuy-bot: {target} exists; choose a new file", error=True)
        return 1
    except OSError as exc:
        say(f"groupbuy-bot: cannot create {target}: {exc.strerror}", error=True)
        return 1
    try:
        with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
            live.execute("PRAGMA busy_timeout = 5000")
            live.backup(copy)
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)  # no half copy that looks like a backup
        say(f"groupbuy-bot: cannot back up {source}: {exc}", error=True)
        return 1
    say(f"backed up {source} to {target}")
    return 0


def move_store(source: str, target: str, schema: str) -> int:
    """Copy SQLite into PostgreSQL and print, table by table, that everything arrived."""
    if not source.startswith("sqlite:///") or not target.startswith(
        ("postgresql://", "postgres://")
    ):
        say("groupbuy-bot: use --from sqlite:///path.db --to postgresql://…", error=True)
        return 2
    password = urlsplit(target).password or ""
    hide(password, unquote(password))
    path = Path(source.removeprefix("sqlite:///"))
    if not path.is_file():
        say(f"groupbuy-bot: no database at {path}", error=True)
        return 1
    checks = asyncio.run(copy_store(path, target, schema))
    for check in checks:
        sums = "" if check.source_sum is None else f", sum {check.source_sum} → {check.target_sum}"
        verdict = "ok" if check.ok else "MISMATCH"
        say(f"{check.table}: {check.source_rows} → {check.target_rows} rows{sums}: {verdict}")
    if all(check.ok for check in checks):
        say("every row arrived; the counts and sums agree")
        return 0
    say("groupbuy-bot: the copy does not match (see MISMATCH above)", error=True)
    return 1


async def _migrate(settings: Settings) -> int:
    store = open_store(
        str(settings.storage.path), settings.storage.url, settings.storage.schema_name
    )
    await store.open()  # opening applies every pending migration
    try:
        return await store.schema_version()
    finally:
        await store.close()


async def _run(app: App) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Runtime(app).run_until(stop)


if __name__ == "__main__":
    sys.exit(main())
