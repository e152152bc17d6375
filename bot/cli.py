"""The console command: `groupbuy-bot` (and `python -m bot`) runs the bot; its subcommands
check the config, back up the database and apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys
from pathlib import Path

from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import App, Runtime, build_application
from bot.config import ConfigError, Settings, config_path, load_settings
from bot.http import describe_failure
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
        print(f"groupbuy-bot: {exc}", file=sys.stderr)
        return 2
    _logging(settings)
    if args.command == "check-config":
        print(f"config OK: store {settings.storage.path}, time zone {settings.timezone}")
        return 0
    if args.command == "backup":
        return backup_database(settings.storage.path, Path(args.path))
    try:
        if args.command == "migrate-store":
            return move_store(args.source, args.target, args.schema)
        if args.command == "migrate":
            version = asyncio.run(_migrate(settings))
            print(f"schema version {version}")
            return 0
    except StoreUnavailable as exc:
        print(f"groupbuy-bot: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_run(build_application(settings)))
    except (InvalidToken, NetworkError, TelegramError) as exc:
        print(
            f"groupbuy-bot: cannot start: {describe_failure(settings.telegram, exc)}",
            file=sys.stderr,
        )
        return 1
    except StoreUnavailable as exc:
        print(f"groupbuy-bot: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def backup_database(source: Path, target: Path) -> int:
    """SQLite's online backup: a consistent copy while the bot keeps writing."""
    if not source.is_file():
        print(f"groupbuy-bot: no database at {source}", file=sys.stderr)
        return 1
    if target.exists():
        print(f"groupbuy-bot: {target} exists; choose a new file", file=sys.stderr)
        return 1
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.execute("PRAGMA busy_timeout = 5000")
        live.backup(copy)
    print(f"backed up {source} to {target}")
    return 0


def move_store(source: str, target: str, schema: str) -> int:
    """Copy SQLite into PostgreSQL and print, table by table, that everything arrived."""
    if not source.startswith("sqlite:///") or not target.startswith(
        ("postgresql://", "postgres://")
    ):
        print("groupbuy-bot: use --from sqlite:///path.db --to postgresql://…", file=sys.stderr)
        return 2
    path = Path(source.removeprefix("sqlite:///"))
    if not path.is_file():
        print(f"groupbuy-bot: no database at {path}", file=sys.stderr)
        return 1
    checks = asyncio.run(copy_store(path, target, schema))
    for check in checks:
        sums = "" if check.source_sum is None else f", sum {check.source_sum} → {check.target_sum}"
        verdict = "ok" if check.ok else "MISMATCH"
        print(f"{check.table}: {check.source_rows} → {check.target_rows} rows{sums}: {verdict}")
    if all(check.ok for check in checks):
        print("every row arrived; the counts and sums agree")
        return 0
    print("groupbuy-bot: the copy does not match (see MISMATCH above)", file=sys.stderr)
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
