"""The services: the core's rules and the store put to work, and Telegram told about it.

By area: deals and taps (`deals.py`, `GroupBuy`, which the others hang from), deal cards
(`cards.py`), messages to groups and members (`notify.py`), groups, members and their
settings (`groups.py`), referrals and the ledger (`referrals.py`), leader reports
(`reports.py`), payments (`payments.py`) and the waitlist (`waitlist.py`).
"""
