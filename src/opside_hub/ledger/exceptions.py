from __future__ import annotations

from opside_hub.core.exceptions import NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"
    message = "No such case."
