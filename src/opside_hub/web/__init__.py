"""The dashboard: a static page served at `/` (plain HTML, one script, one stylesheet) and, in
sandbox development only, the demo sign-in route `POST /api/dev/token`."""

from opside_hub.web.endpoints import include_dashboard

__all__ = ["include_dashboard"]
