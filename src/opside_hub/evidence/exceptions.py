from __future__ import annotations

from opside_hub.core.exceptions import ProviderError


class EvidenceNotConfigured(RuntimeError):
    """PYTHON_API_URL or PYTHON_API_JWT_SECRET is missing."""


class EvidenceServiceError(ProviderError):
    code = "evidence_service_error"
    message = "The evidence service returned an error."
