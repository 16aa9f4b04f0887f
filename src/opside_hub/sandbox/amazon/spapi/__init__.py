"""Sandbox Selling Partner API: Sellers, Reports 2021-06-30, Finances v0 and FBA Inventory v1.

Same paths, parameters, status codes and bodies as SP-API (the models in `shared/specs/amazon`
are the reference), so a client of the real API works against `/sandbox/amazon` by changing its
base URL only. Data comes from `opside_hub.sandbox.amazon.data`; `guard.py` is the gateway
(tokens, usage plans, faults), `reports.py` the report lifecycle and documents, `service.py`
request parsing and paging.
"""
