"""`python -m bot` runs the bot, like the `groupbuy-bot` command."""

import sys

from bot.cli import main

sys.exit(main())
