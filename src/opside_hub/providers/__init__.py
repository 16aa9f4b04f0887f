"""Provider integrations: Amazon SP-API, Gmail, Stripe (OAuth clients, API clients, sync)."""
