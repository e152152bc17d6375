"""The store's repositories, one per area, all on one engine (see storage.store.Store).

base (what they share), groups, deals, rounds, orders, waitlist, ledger, deliveries,
reports.
"""
