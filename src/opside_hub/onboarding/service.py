"""Opening the seller's Stripe Connect Express account, silently, once.

The job `onboarding.stripe_account.create` runs after the Amazon connection commits (it never
delays the OAuth callback). It reloads the seller, and does nothing if they have an account
already. Otherwise it asks Stripe for an Express account — the seller's e-mail, the country of
their Amazon marketplace — with an `Idempotency-Key` derived from the user id alone, so that
every attempt, retry or duplicate job for a seller is the *same* request to Stripe: however
many run, and even if one dies between Stripe's answer and our commit, Stripe creates one
account and answers each of them with it. Stripe keeps idempotency keys for at least 24 hours;
past that the `stripe_accounts` row (UNIQUE(user_id)) is what stops a second account, and a
lost race between two jobs ends in `ON CONFLICT DO NOTHING`.

At most `ATTEMPTS` requests are made, with exponential backoff, and only while Stripe allows a
retry (transport errors, 409, 429, 5xx, `Stripe-Should-Retry`). A failure is logged with
Stripe's error type, code and request id — never the key or the request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opside_hub.core.logging import get_logger
from opside_hub.db.models import User
from opside_hub.db.session import transaction
from opside_hub.providers.stripe import repository
from opside_hub.providers.stripe.client import StripeApiError, StripeClient, StripeNotConfigured
from opside_hub.providers.stripe.webhooks import account_status
from opside_hub.runtime import Runtime
from opside_hub.vault import repository as vault_repository

log = get_logger(__name__)

CREATE_JOB = "onboarding.stripe_account.create"
ATTEMPTS = 3
DEFAULT_COUNTRY = "US"
# Where Stripe offers Connect Express accounts (Stripe's "Global availability" list).
STRIPE_COUNTRIES = frozenset(
    {
        "AE", "AT", "AU", "BE", "BG", "BR", "CA", "CH", "CY", "CZ", "DE", "DK",
        "EE", "ES", "FI", "FR", "GB", "GI", "GR", "HK", "HR", "HU", "IE", "IN",
        "IT", "JP", "LI", "LT", "LU", "LV", "MT", "MX", "MY", "NL", "NO", "NZ",
        "PL", "PT", "RO", "SE", "SG", "SI", "SK", "TH", "US",
    }
)  # fmt: skip
# Amazon's marketplace country codes that are not ISO 3166 (the UK marketplace says "UK").
AMAZON_COUNTRY_ALIASES = {"UK": "GB"}


@dataclass(frozen=True)
class OnboardingResult:
    outcome: str  # created | exists | failed | no_user
    stripe_account_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "stripeAccountId": self.stripe_account_id}


def idempotency_key(user_id: str) -> str:
    """The same for every attempt and every job of one user (user ids may hold any character,
    Stripe keys at most 255)."""
    return "opside-express-account-" + hashlib.sha256(user_id.encode()).hexdigest()


def seller_country(marketplaces: Sequence[Any] | None, preferred_marketplace: str) -> str:
    """The country of the seller's Amazon marketplace — the home marketplace when they sell
    there, else the first they participate in — when Stripe serves it; else the US."""
    entries = [m for m in marketplaces or [] if isinstance(m, dict)]
    participating = [m for m in entries if m.get("participating", True)]
    ordered = sorted(participating, key=lambda m: m.get("id") != preferred_marketplace)
    for marketplace in ordered:
        code = str(marketplace.get("countryCode") or "").upper()
        code = AMAZON_COUNTRY_ALIASES.get(code, code)
        if code in STRIPE_COUNTRIES:
            return code
    return DEFAULT_COUNTRY


def account_params(user_id: str, email: str | None, country: str) -> dict[str, str]:
    params = {
        "type": "express",
        "country": country,
        "capabilities[card_payments][requested]": "true",
        "capabilities[transfers][requested]": "true",
        "metadata[opside_user_id]": user_id,
    }
    if email:
        params["email"] = email
    return params


async def create_express_account(runtime: Runtime, user_id: str) -> OnboardingResult:
    async with runtime.sessions() as session:
        existing = await repository.get_express_account(session, user_id)
        if existing is not None:
            log.info("onboarding.stripe_account.exists", user_id=user_id)
            return OnboardingResult("exists", existing.stripe_account_id)
        user = await session.get(User, user_id)
        if user is None:
            return OnboardingResult("no_user")
        amazon = await vault_repository.get_token(session, user_id, "amazon")
        marketplaces = (amazon.details or {}).get("marketplaces") if amazon else None
        email = user.email
    country = seller_country(marketplaces, runtime.settings.amazon.marketplace_id)
    try:
        account = await StripeClient.for_platform(runtime).create_account(
            account_params(user_id, email, country),
            idempotency_key=idempotency_key(user_id),
            max_attempts=ATTEMPTS,
        )
    except StripeApiError as exc:
        log.error(
            "onboarding.stripe_account.failed",
            user_id=user_id,
            status=exc.status,
            error_type=exc.error_type,
            error=exc.error_code,
            request_id=exc.request_id,
        )
        return OnboardingResult("failed")
    except StripeNotConfigured:
        log.error("onboarding.stripe_account.not_configured", user_id=user_id)
        return OnboardingResult("failed")
    account_id = str(account.get("id") or "")
    if not account_id.startswith("acct_"):
        log.error("onboarding.stripe_account.invalid_response", user_id=user_id)
        return OnboardingResult("failed")
    async with transaction(runtime.sessions) as session:
        inserted = await repository.add_express_account(
            session,
            user_id=user_id,
            stripe_account_id=account_id,
            account_type=str(account.get("type") or "express")[:16],
            country=str(account.get("country") or country)[:2],
            email=account.get("email") or email,
            charges_enabled=bool(account.get("charges_enabled")),
            payouts_enabled=bool(account.get("payouts_enabled")),
            details_submitted=bool(account.get("details_submitted")),
            status=account_status(account),
        )
    if not inserted:
        log.info("onboarding.stripe_account.exists", user_id=user_id)
        return OnboardingResult("exists", account_id)
    log.info("onboarding.stripe_account.created", user_id=user_id, stripe_account_id=account_id)
    return OnboardingResult("created", account_id)
