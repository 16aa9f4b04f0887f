"""Sandbox Amazon: Seller Central consent, the Login with Amazon token endpoint and the
Selling Partner API (`spapi/`), with the seller's generated data (`data.py`)."""
