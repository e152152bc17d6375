"""The pure core: the deal form, rounds, money, referral arithmetic, summaries, button data
and deep-link payloads. Values in, values out: it imports nothing outside itself and the
standard library (tests/test_architecture.py checks), so it is tested in milliseconds."""
