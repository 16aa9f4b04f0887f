"""The connection lifecycle shared by all providers: OAuth states, status, callbacks."""
