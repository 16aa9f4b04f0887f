"""Prometheus metrics (`GET /metrics`, the worker's metrics port) and what records them."""
