"""The framework's ceiling: a bare python-telegram-bot Application that only answers taps.

It polls exactly as groupbuy-bot does (`bot.app.Runtime`: concurrent updates, the same
long-poll timeout, read timeout and allowed updates) but has no store, no templates and no
rate limiter, so a burst of taps measures what python-telegram-bot itself can do on this
machine. `bench/flash_sale.py` runs it as a separate process:

    python -m bench.ceiling_bot --base-url http://127.0.0.1:PORT/bot --token 123:ABC
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes

from bot.config import TelegramSettings
from bot.http import POOL_SIZE, telegram_requests

log = logging.getLogger("ceiling")

# A fixed answer about as long as the real bot's "You're in: …" keeps the payloads alike.
ANSWER = "You're in: 1 × Flash sale mangoes — round 1, 1/10"


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap and do nothing else."""
    if update.callback_query is not None:
        await update.callback_query.answer(ANSWER)


def build(
    base_url: str,
    token: str,
    poll_timeout: float,
    concurrency: int | None,
    pool: int | None,
    transport: str = "httpx",
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bare application, built like `bot.app.build_application` minus the bot itself.

    `concurrency` and `pool` (None: PTB's defaults, which the bot uses) are for experiments.
    `transport` "bot" puts it on groupbuy-bot's requests (`bot.http.telegram_requests`:
    aiohttp with the bot's pool, time-outs and tap trimming) instead of PTB's
    defaults, to tell the framework's cost from the transport's settings.
    """
    builder = (
        ApplicationBuilder().token(token).base_url(base_url).concurrent_updates(concurrency or True)
    )
    if transport == "bot":
        telegram = TelegramSettings(
            token=SecretStr(token), base_url=base_url, poll_timeout=poll_timeout
        )
        general, polling = telegram_requests(telegram, pool_size=pool or POOL_SIZE)
        builder = builder.request(general).get_updates_request(polling)
    else:
        builder = builder.get_updates_read_timeout(poll_timeout + 10)
        if pool is not None:
            builder = builder.connection_pool_size(pool)
    app = builder.build()
    app.add_handler(CallbackQueryHandler(answer))
    return app


async def run(
    base_url: str,
    token: str,
    poll_timeout: float,
    concurrency: int | None,
    pool: int | None,
    transport: str,
) -> None:
    """Poll until SIGINT or SIGTERM, with the start and stop sequence of `bot.app.Runtime`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = build(base_url, token, poll_timeout, concurrency, pool, transport)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=int(poll_timeout), allowed_updates=Update.ALL_TYPES)
    log.info("ceiling bot @%s is polling", app.bot.username)
    try:
        await stop.wait()
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        log.info("ceiling bot stopped")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the ceiling bot."""
    parser = argparse.ArgumentParser(prog="ceiling_bot", description=__doc__)
    parser.add_argument("--base-url", required=True, help="Bot API base URL, ending in /bot")
    parser.add_argument("--token", required=True, help="bot token")
    parser.add_argument("--poll-timeout", type=float, default=1.0, help="long-poll seconds")
    parser.add_argument(
        "--concurrency", type=int, help="concurrent updates (default: PTB's for True, 256)"
    )
    parser.add_argument("--pool", type=int, help="HTTP connection pool size (default: PTB's)")
    parser.add_argument(
        "--transport",
        choices=("httpx", "bot"),
        default="httpx",
        help="httpx (PTB's defaults) or bot (groupbuy-bot's requests, bot/http.py)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL, and the URL carries the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(
        run(
            args.base_url,
            args.token,
            args.poll_timeout,
            args.concurrency,
            args.pool,
            args.transport,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
