"""Sandbox Stripe: Connect OAuth authorize, token and deauthorize."""
