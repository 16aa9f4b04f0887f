"""Sandbox Stripe: Connect OAuth (`endpoints.py`), the API — balance transactions, accounts —
(`api.py`), and test controls with signed webhook delivery (`admin.py`)."""
