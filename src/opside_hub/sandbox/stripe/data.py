"""The sandbox Stripe accounts' balance transactions: deterministic, generated on demand.

An account's history is an endless stream over absolute time, seeded by the account id:
transaction `k` is created at `EPOCH + k·spacing + jitter(k)` with `spacing = 540 days / size`
(`SANDBOX_STRIPE_BALANCE_TRANSACTIONS`), so any 540 days hold about `size` transactions, new
ones appear as the clock moves, and every API process serves the same data without storing
it. An account shows the last `HISTORY` (~18 months). Creation times never decrease with `k`,
so the transactions of a time range are an index range found by arithmetic.

The mix is a seller's: charges (Stripe's fee, sometimes the platform's application fee),
refunds, disputes, Stripe fees, transfers from the platform and payouts, mostly in USD with
some EUR and JPY (a zero-decimal currency: amounts are yen). A transaction is `pending` until
its `available_on` (midnight UTC, two days after a charge), then `available`.

Ids encode `k` (`txn_1` + 7 base-62 digits of `k` + 16 characters derived from the account and
`k`), so `starting_after=txn_…` costs nothing to resolve; ids of other accounts do not resolve.

Tests add transactions "now" with `POST /sandbox/_admin/stripe/balance_transactions`: they are
kept in Redis and merged into the stream (see `api.py`).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from opside_hub.sandbox.oauth import BASE62, derived_string

EPOCH = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
DENSITY_SPAN = 540 * 86_400
HISTORY = 540 * 86_400
DAY = 86_400
ID_DIGITS = 7

# (kind, weight): the shape of a seller's balance history.
KINDS = (
    ("charge", 55),
    ("refund", 8),
    ("payout", 14),
    ("transfer", 12),
    ("adjustment", 3),
    ("stripe_fee", 8),
)
CURRENCIES = (("usd", 85), ("eur", 10), ("jpy", 5))
REPORTING_CATEGORY = {
    "charge": "charge",
    "refund": "refund",
    "payout": "payout",
    "transfer": "transfer",
    "adjustment": "dispute",
    "stripe_fee": "fee",
}
SOURCE_PREFIX = {
    "charge": "ch_3",
    "refund": "re_3",
    "payout": "po_1",
    "transfer": "tr_1",
    "adjustment": "du_1",
}

# A transaction's place in an account's list: (created, 0, k) for generated ones,
# (created, 1, seq) for added ones (added after anything generated in the same second).
SortKey = tuple[int, int, int]


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, index = divmod(number, 62)
        digits.append(BASE62[index])
    return "".join(reversed(digits))


def from_base62(text: str) -> int | None:
    number = 0
    for char in text:
        index = BASE62.find(char)
        if index < 0:
            return None
        number = number * 62 + index
    return number


@dataclass(frozen=True)
class Ledger:
    """The generated balance history of one account."""

    account: str
    size: int

    @property
    def spacing(self) -> int:
        return max(1, DENSITY_SPAN // self.size) if self.size else 0

    def _hash(self, k: int, what: str) -> int:
        digest = hashlib.sha256(f"stripe:{self.account}:{k}:{what}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def created(self, k: int) -> int:
        return EPOCH + k * self.spacing + self._hash(k, "jitter") % self.spacing

    def last_at_or_before(self, at: int) -> int:
        """The largest k created at or before `at` (-1: none)."""
        if not self.size or at < EPOCH:
            return -1
        k = (at - EPOCH) // self.spacing
        return k if self.created(k) <= at else k - 1

    def object_id(self, prefix: str, k: int) -> str:
        return (
            prefix
            + base62(k, ID_DIGITS)
            + derived_string(f"{self.account}:{prefix}{k}", 16, BASE62)
        )

    def index_of(self, object_id: str, prefix: str) -> int | None:
        """The k an id of this account stands for (None: not one of its generated ids)."""
        if not object_id.startswith(prefix) or not self.size:
            return None
        k = from_base62(object_id[len(prefix) : len(prefix) + ID_DIGITS])
        if k is None or self.object_id(prefix, k) != object_id:
            return None
        return k

    def kind(self, k: int) -> str:
        rng = random.Random(self._hash(k, "kind"))  # noqa: S311 - sandbox data, not secrets
        return rng.choices([name for name, _ in KINDS], weights=[w for _, w in KINDS])[0]

    def descending(self, top: int, bottom: int) -> Iterator[int]:
        """k of the transactions created in [bottom, top], newest first."""
        k = self.last_at_or_before(top)
        while k >= 0 and self.created(k) >= bottom:
            yield k
            k -= 1

    def ascending(self, bottom: int, top: int) -> Iterator[int]:
        """k of the transactions created in [bottom, top], oldest first."""
        if not self.size:
            return
        k = max(0, self.last_at_or_before(bottom - 1) + 1)
        while self.created(k) <= top:
            yield k
            k += 1

    def payout_members(self, k_payout: int, bottom: int) -> set[int]:
        """What a payout paid out: itself and every transaction since the previous payout."""
        members = {k_payout}
        k = k_payout - 1
        while k >= 0 and self.created(k) >= bottom and self.kind(k) != "payout":
            members.add(k)
            k -= 1
        return members

    def transaction(self, k: int, now: int) -> dict[str, Any]:
        rng = random.Random(self._hash(k, "body"))  # noqa: S311 - sandbox data, not secrets
        kind = self.kind(k)
        currency = rng.choices([c for c, _ in CURRENCIES], weights=[w for _, w in CURRENCIES])[0]
        scale = 1.5 if currency == "jpy" else 1.0  # yen: ~150 per 100 US cents, no decimals
        created = self.created(k)
        available_on = created
        fee_details: list[dict[str, Any]] = []
        description: str | None = None
        if kind == "charge":
            amount = int(rng.randint(500, 50_000) * scale)
            stripe_fee = round(amount * 0.036) if currency == "jpy" else round(amount * 0.029) + 30
            fee_details.append(_fee(stripe_fee, currency, "stripe_fee", "Stripe processing fees"))
            if rng.random() < 0.3:
                fee_details.append(
                    _fee(
                        round(amount * 0.01),
                        currency,
                        "application_fee",
                        "Opside platform fee",
                        application="ca_" + derived_string("opside-platform", 32, BASE62),
                    )
                )
            available_on = (created // DAY + 2) * DAY
            description = f"Order #{rng.randint(100_000, 999_999)}"
        elif kind == "refund":
            amount = -int(rng.randint(500, 20_000) * scale)
            description = "REFUND FOR CHARGE"
        elif kind == "payout":
            amount = -int(rng.randint(5_000, 300_000) * scale)
            description = "STRIPE PAYOUT"
        elif kind == "transfer":
            amount = int(rng.randint(1_000, 100_000) * scale)
        elif kind == "adjustment":
            amount = -int(rng.randint(1_000, 20_000) * scale)
            fee_details.append(_fee(int(1_500 * scale), currency, "stripe_fee", "Dispute fee"))
            description = "Chargeback withdrawal"
        else:  # stripe_fee
            amount = -int(rng.randint(100, 3_000) * scale)
            description = "Connect (monthly): Account Volume Billing"
        fee = sum(item["amount"] for item in fee_details)
        prefix = SOURCE_PREFIX.get(kind)
        return {
            "id": self.object_id("txn_1", k),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": available_on,
            "created": created,
            "currency": currency,
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": fee_details,
            "net": amount - fee,
            "reporting_category": REPORTING_CATEGORY[kind],
            "source": self.object_id(prefix, k) if prefix else None,
            "status": "available" if available_on <= now else "pending",
            "type": kind,
        }


def _fee(
    amount: int, currency: str, kind: str, description: str, application: str | None = None
) -> dict[str, Any]:
    return {
        "amount": amount,
        "application": application,
        "currency": currency,
        "description": description,
        "type": kind,
    }


def added_transaction(
    transaction_id: str,
    *,
    created: int,
    amount: int,
    currency: str,
    kind: str,
    now: int,
    description: str | None = None,
) -> dict[str, Any]:
    """A transaction a test adds: a charge (with Stripe's fee) or any other kind (no fee)."""
    fee_details = []
    available_on = created
    if kind == "charge" and amount > 0:
        fee_details.append(
            _fee(round(amount * 0.029) + 30, currency, "stripe_fee", "Stripe processing fees")
        )
        available_on = (created // DAY + 2) * DAY
    fee = sum(item["amount"] for item in fee_details)
    return {
        "id": transaction_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": REPORTING_CATEGORY.get(kind, "other_adjustment"),
        "source": None,
        "status": "available" if available_on <= now else "pending",
        "type": kind,
    }


class AddedTransactions:
    """Transactions tests added to an account, in Redis, in the order they were added."""

    TTL = timedelta(days=7)

    def __init__(self, redis: Redis, key_fn: Callable[..., str], account: str) -> None:
        self.redis = redis
        self.key = key_fn("sandbox", "stripe", "added-transactions", account)

    async def add(self, transactions: list[dict[str, Any]]) -> None:
        await self.redis.rpush(self.key, *[json.dumps(item) for item in transactions])
        await self.redis.expire(self.key, self.TTL)

    async def all(self, now: int) -> list[tuple[SortKey, dict[str, Any]]]:
        """Each with its place in the account's list; `status` as of `now`."""
        raw = await self.redis.lrange(self.key, 0, -1)
        items = []
        for seq, entry in enumerate(raw):
            item = json.loads(entry)
            item["status"] = "available" if item["available_on"] <= now else "pending"
            items.append(((int(item["created"]), 1, seq), item))
        return items
