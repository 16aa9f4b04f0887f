"""Composition of the HTTP API: router tree, dependency aliases, error handlers."""
