"""Sandbox Stripe accounts, and Stripe's idempotent requests.

Accounts: the platform's own; the Standard accounts sellers connect through Connect OAuth
(generated from the account id and the e-mail given on the consent page); and the accounts the
platform creates with `POST /v1/accounts` (Express for the silent onboarding), kept in Redis.
Their JSON follows Stripe's `account` object of API version 2023-08-16.

Idempotency, as Stripe documents it: a POST's `Idempotency-Key` saves the result of the first
request that *ran*; the same key with the same parameters answers that result again (with
`Idempotent-Replayed: true`), with other parameters 400 `idempotency_error`, and while the
first is still running 409 `idempotency_key_in_use`. A request refused before it ran (bad
parameters, an injected fault) saves nothing. Keys are scoped to the account acting and kept
24 hours.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from opside_hub.sandbox.oauth import BASE62, derived_string, random_string
from opside_hub.sandbox.stripe.guard import StripeError, invalid_request

ACCOUNT_TYPES = ("custom", "express", "standard")
# Countries Stripe serves, with the default currency of an account there.
COUNTRY_CURRENCIES = {
    **dict.fromkeys(
        ("AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR",
         "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK"),
        "eur",
    ),
    "AE": "aed", "AU": "aud", "BG": "bgn", "BR": "brl", "CA": "cad", "CH": "chf", "CZ": "czk",
    "DK": "dkk", "GB": "gbp", "GI": "gbp", "HK": "hkd", "HU": "huf", "IN": "inr", "JP": "jpy",
    "LI": "chf", "MX": "mxn", "MY": "myr", "NO": "nok", "NZ": "nzd", "PL": "pln", "RO": "ron",
    "SE": "sek", "SG": "sgd", "TH": "thb", "US": "usd",
}  # fmt: skip
# `POST /v1/accounts` parameters (API 2023-08-16); those not modelled here are accepted as-is.
ACCOUNT_PARAMS = frozenset(
    {
        "account_token",
        "bank_account",
        "business_profile",
        "business_type",
        "capabilities",
        "company",
        "controller",
        "country",
        "default_currency",
        "documents",
        "email",
        "expand",
        "external_account",
        "individual",
        "metadata",
        "settings",
        "tos_acceptance",
        "type",
    }
)
BUSINESS_TYPES = ("company", "government_entity", "individual", "non_profit")
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
IDEMPOTENCY_TTL = timedelta(hours=24)
IN_FLIGHT_TTL = timedelta(seconds=60)
ACCOUNT_TTL = timedelta(days=365)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

KeyFn = Callable[..., str]
Params = dict[str, Any]


def parse_nested(pairs: Sequence[tuple[str, str]]) -> Params:
    """Stripe's form encoding: `a[b][c]=v` is `{"a": {"b": {"c": "v"}}}`, `a[]=v` a list."""
    root: Params = {}
    for name, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", name)
        if not parts or name.startswith("["):
            raise invalid_request(f"Invalid parameter name: {name}")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "[]":
                if not last or not isinstance(node, list):
                    raise invalid_request(f"Invalid array parameter: {name}")
                node.append(value)
                break
            if not isinstance(node, dict):
                raise invalid_request(f"Invalid hash parameter: {name}")
            if last:
                node[part] = value
            else:
                following = parts[index + 1]
                node = node.setdefault(part, [] if following == "[]" else {})
    return root


def fingerprint(method: str, path: str, pairs: Sequence[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps([method, path, sorted(pairs)]).encode()).hexdigest()


# -- account objects -------------------------------------------------------------------------


def account_object(
    account_id: str,
    *,
    account_type: str,
    country: str,
    email: str | None,
    created: int,
    metadata: Mapping[str, str] | None = None,
    capabilities: Mapping[str, str] | None = None,
    business_type: str | None = None,
    business_name: str | None = None,
    default_currency: str | None = None,
    onboarded: bool = False,
) -> dict[str, Any]:
    """Stripe's `account` object. `onboarded`: details submitted, charges and payouts on."""
    due = [] if onboarded else list(ONBOARDING_REQUIREMENTS)
    requirements = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": due,
        "disabled_reason": None if onboarded else "requirements.past_due",
        "errors": [],
        "eventually_due": due,
        "past_due": due,
        "pending_verification": [],
    }
    return {
        "id": account_id,
        "object": "account",
        "business_profile": {
            "mcc": None,
            "name": business_name,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": business_type,
        "capabilities": dict(capabilities or {}),
        "charges_enabled": onboarded,
        "controller": {"is_controller": True, "type": "application"}
        if account_type != "standard"
        else {"type": "account"},
        "country": country,
        "created": created,
        "default_currency": default_currency or COUNTRY_CURRENCIES.get(country, "usd"),
        "details_submitted": onboarded,
        "email": email,
        "external_accounts": {
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "future_requirements": {**requirements, **_nothing_due()},
        "metadata": dict(metadata or {}),
        "payouts_enabled": onboarded,
        "requirements": requirements,
        "settings": {
            "bacs_debit_payments": {},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_payments": {
                "decline_on": {"avs_failure": True, "cvc_failure": True},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": business_name, "timezone": "Etc/UTC"},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": account_type,
    }


def _nothing_due() -> dict[str, Any]:
    return {
        "currently_due": [],
        "disabled_reason": None,
        "eventually_due": [],
        "past_due": [],
    }


def standard_account(
    account_id: str, email: str | None, *, platform: bool = False
) -> dict[str, Any]:
    """A seller's own Stripe account (or the platform's): long onboarded, in the US."""
    created_seed = int(derived_string(f"stripe-created:{account_id}", 6, "0123456789"))
    return account_object(
        account_id,
        account_type="standard",
        country="US",
        email=email,
        created=1_500_000_000 + created_seed * 100,
        capabilities={"card_payments": "active", "transfers": "active"},
        business_type="company",
        business_name="Opside" if platform else "Sandbox Seller",
        onboarded=True,
    )


def new_account(params: Params, now: int) -> dict[str, Any]:
    """Validate `POST /v1/accounts` parameters as Stripe does, and build the account."""
    unknown = sorted(set(params) - ACCOUNT_PARAMS)
    if unknown:
        raise invalid_request(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    account_type = params.get("type")
    if account_type is None and "controller" not in params:
        raise invalid_request("Missing required param: type.", param="type")
    account_type = account_type or "standard"
    if account_type not in ACCOUNT_TYPES:
        raise invalid_request(
            "Invalid type: must be one of custom, express, or standard", param="type"
        )
    country = str(params.get("country") or "US").upper()
    if country not in COUNTRY_CURRENCIES:
        raise invalid_request(
            f"Country '{params.get('country')}' is unknown. Try using a 2-character alphanumeric "
            "country code instead, such as 'US', 'EG', or 'GB'.",
            param="country",
        )
    email = params.get("email")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        raise invalid_request(f"Invalid email address: {email}", param="email")
    business_type = params.get("business_type")
    if business_type is not None and business_type not in BUSINESS_TYPES:
        raise invalid_request(
            "Invalid business_type: must be one of company, government_entity, individual, "
            "or non_profit",
            param="business_type",
        )
    currency = params.get("default_currency")
    if currency is not None and not (
        isinstance(currency, str) and re.fullmatch(r"[a-z]{3}", currency)
    ):
        raise invalid_request(f"Invalid currency: {currency}", param="default_currency")
    capabilities = _capabilities(params.get("capabilities", {}))
    if account_type in ("express", "custom") and "transfers" not in capabilities:
        raise invalid_request(
            f"The `transfers` capability must be requested for {account_type} accounts: "
            "capabilities[transfers][requested]=true.",
            param="capabilities",
        )
    metadata = params.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise invalid_request("Invalid hash", param="metadata")
    profile = params.get("business_profile", {})
    return account_object(
        "acct_1" + random_string(15, BASE62),
        account_type=account_type,
        country=country,
        email=email,
        created=now,
        metadata=metadata,
        capabilities=capabilities,
        business_type=business_type,
        business_name=profile.get("name") if isinstance(profile, dict) else None,
        default_currency=currency,
    )


def _capabilities(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise invalid_request("Invalid hash", param="capabilities")
    requested: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(value, dict) or value.get("requested") not in ("true", "false"):
            raise invalid_request(
                f"Invalid capabilities[{name}]: pass requested=true or requested=false",
                param=f"capabilities[{name}]",
            )
        if value["requested"] == "true":
            requested[name] = "inactive"  # until the account is onboarded
    return requested


# -- storage ---------------------------------------------------------------------------------


class AccountStore:
    def __init__(self, redis: Redis, key_fn: KeyFn) -> None:
        self.redis = redis
        self.key_fn = key_fn

    def key(self, *parts: str) -> str:
        return self.key_fn("sandbox", "stripe", *parts)

    async def get(self, account_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.key("account", account_id))
        return json.loads(raw) if raw is not None else None

    async def save(self, account: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.key("account", account["id"]), json.dumps(account), ex=ACCOUNT_TTL)
            pipe.sadd(self.key("platform-accounts"), account["id"])
            pipe.expire(self.key("platform-accounts"), ACCOUNT_TTL)
            await pipe.execute()

    async def created_ids(self) -> set[str]:
        members = await self.redis.smembers(self.key("platform-accounts"))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def idempotent(
        self,
        scope: str,
        key: str | None,
        fingerprint: str,
        run: Callable[[], Awaitable[dict[str, Any]]],
    ) -> tuple[dict[str, Any], bool]:
        """Run `run` once per (scope, key); returns the body and whether it was replayed."""
        if key is None:
            return await run(), False
        if len(key) > 255:
            raise invalid_request(
                "Invalid Idempotency-Key: it must be at most 255 characters.",
                param="Idempotency-Key",
            )
        record_key = self.key("idempotency", hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest())
        pending = json.dumps({"state": "running", "fingerprint": fingerprint})
        if not await self.redis.set(record_key, pending, nx=True, ex=IN_FLIGHT_TTL):
            raw = await self.redis.get(record_key)
            record: dict[str, Any] = json.loads(raw) if raw is not None else {"state": "running"}
            if record["state"] == "running":
                raise StripeError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotent "
                    "Key (that probably means you submitted twice, and the other request is "
                    f"still going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                    headers={"Stripe-Should-Retry": "true"},
                )
            if record["fingerprint"] != fingerprint:
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            saved: dict[str, Any] = record["body"]
            return saved, True
        try:
            body = await run()
        except BaseException:
            await self.redis.delete(record_key)  # it did not run: nothing is saved
            raise
        done = {"state": "done", "fingerprint": fingerprint, "body": body}
        await self.redis.set(record_key, json.dumps(done), ex=IDEMPOTENCY_TTL)
        return body, False
