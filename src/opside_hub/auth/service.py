"""User JWTs: HS256 signed with `JWT_SECRET`, the user id in `sub`.

Supabase-issued tokens work unchanged (`aud` "authenticated"). Only HS256 is accepted: the
algorithm is pinned on our side, never taken from the token header, which closes `alg=none` and
HS/RS confusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from opside_hub.auth.exceptions import InvalidToken
from opside_hub.config import AuthSettings
from opside_hub.core.durations import parse_duration

ALGORITHM = "HS256"
LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class UserClaims:
    user_id: str
    email: str | None
    role: str | None


def decode_user_token(token: str, settings: AuthSettings) -> UserClaims:
    if not token:
        raise InvalidToken("A bearer token is required.", code="token_missing")
    if len(token) > settings.max_token_bytes:
        raise InvalidToken("The token is too large.", code="token_malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise InvalidToken("The token is not a JWT.", code="token_malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("The token's algorithm is not accepted.", code="token_bad_algorithm")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audiences or None,
            leeway=LEEWAY,
            options={"require": ["sub", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.", code="token_expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("The token is not valid yet.", code="token_not_yet_valid") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("The token's signature is invalid.", code="token_bad_signature") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken(
            "The token's audience is not accepted.", code="token_bad_audience"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(
            f"The token lacks the {exc.claim!r} claim.", code="token_bad_claims"
        ) from exc
    except jwt.DecodeError as exc:
        raise InvalidToken("The token is malformed.", code="token_malformed") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("The token's claims are invalid.", code="token_bad_claims") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise InvalidToken("The token's subject is invalid.", code="token_bad_claims")
    email = claims.get("email")
    role = claims.get("role")
    return UserClaims(
        user_id=subject,
        email=email if isinstance(email, str) else None,
        role=role if isinstance(role, str) else None,
    )


def create_user_token(
    user_id: str,
    settings: AuthSettings,
    *,
    email: str | None = None,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> str:
    """A user token of the shape Supabase issues; for development, tests and the demo login."""
    issued = now or datetime.now(UTC)
    lifetime = expires_in or parse_duration(settings.jwt_expires_in)
    claims: dict[str, object] = {
        "sub": user_id,
        "aud": "authenticated",
        "role": "authenticated",
        "iat": issued,
        "exp": issued + lifetime,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
