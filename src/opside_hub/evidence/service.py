"""Service JWTs for the evidence API (the refund engine's Python service).

HS256 with `PYTHON_API_JWT_SECRET`; claims exactly as DESIGN §3 fixes them: `sub` and `user_id`
(the user acted for), `email`, `role: "service_worker"`, `iss`, `iat`, `exp`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from opside_hub.config import EvidenceSettings
from opside_hub.core.durations import parse_duration
from opside_hub.evidence.exceptions import EvidenceNotConfigured

SERVICE_ROLE = "service_worker"
ALGORITHM = "HS256"


def mint_service_token(
    settings: EvidenceSettings,
    *,
    user_id: str,
    email: str | None,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> str:
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        raise EvidenceNotConfigured("PYTHON_API_JWT_SECRET is not set")
    issued = now or datetime.now(UTC)
    claims = {
        "sub": user_id,
        "user_id": user_id,
        "email": email or "",
        "role": SERVICE_ROLE,
        "iss": settings.service_name,
        "iat": issued,
        "exp": issued + (ttl or parse_duration(settings.jwt_ttl)),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
