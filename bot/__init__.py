"""groupbuy-bot: group-buys (拼团 / 接龙) inside Telegram groups."""
