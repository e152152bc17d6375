"""The console command: `groupbuy-bot` (and `python -m bot`) starts the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import App, Runtime, build_application
from bot.config import ConfigError, config_path, load_settings

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load the settings and run the bot until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="groupbuy-bot", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="config file (default: config.toml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_path(args.config))
    except ConfigError as exc:
        print(f"groupbuy-bot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and the URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(_run(build_application(settings)))
    except (InvalidToken, NetworkError, TelegramError) as exc:
        print(f"groupbuy-bot: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(app: App) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Runtime(app).run_until(stop)


if __name__ == "__main__":
    sys.exit(main())
