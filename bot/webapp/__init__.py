"""The leader's console: a Telegram Mini App the bot serves itself (aiohttp).

One static shell page (`static/`) fetches HTML fragments rendered from
`templates/webapp/` in the reader's language; every `/api/` request carries Telegram's
initData in a header and is checked in `auth.py`. The views call services only.
"""
