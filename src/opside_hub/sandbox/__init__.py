"""Sandbox providers: Amazon, Google and Stripe emulated at their real HTTP shapes (DESIGN §6).

Mounted under `/sandbox` in sandbox mode; a client reaches them by changing base URLs only.
"""

from opside_hub.sandbox.endpoints import build_sandbox_router

__all__ = ["build_sandbox_router"]
