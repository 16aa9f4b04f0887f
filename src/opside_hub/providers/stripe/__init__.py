"""Stripe Connect (OAuth, Express accounts) and the Stripe API."""
