"""Sandbox Google: OAuth 2.0 authorize, token and revoke; the Gmail API."""
