"""The token vault: encryption keys, sealed tokens, refresh."""
