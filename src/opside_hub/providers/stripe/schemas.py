from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opside_hub.core.schemas import ApiModel, Money


class StripeConnect(ApiModel):
    code: str = Field(min_length=1, max_length=2048)
    state: str | None = Field(default=None, max_length=128)


# Stripe's objects, as its API (version 2023-08-16) sends them: what we read of them ----------


class StripeFee(BaseModel):
    model_config = ConfigDict(extra="allow")

    amount: int
    currency: str
    type: str
    description: str | None = None
    application: str | None = None


class StripeBalanceTransaction(BaseModel):
    """A `balance_transaction`; amounts are integers in the currency's minor unit."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^txn_", max_length=255)
    object: Literal["balance_transaction"] = "balance_transaction"
    amount: int
    fee: int
    net: int
    currency: str = Field(min_length=3, max_length=3)
    type: str
    status: str | None = None
    created: int
    available_on: int | None = None
    description: str | None = None
    reporting_category: str | None = None
    # An id, or the object itself when expanded.
    source: str | dict[str, Any] | None = None
    exchange_rate: float | None = None
    fee_details: list[StripeFee] = Field(default_factory=list)


# Our API -----------------------------------------------------------------------------------


class FeeDetail(ApiModel):
    amount: Money
    type: str
    description: str | None = None
    application: str | None = None


class BalanceTransaction(ApiModel):
    """A synced Stripe balance transaction: Stripe's fields in camelCase, money as `Money`."""

    id: str = Field(description="Stripe's id (txn_...)")
    account: str | None = Field(description="The connected Stripe account (acct_...)")
    type: str
    status: str | None = Field(
        description="`available` or `pending`; `available` once `availableOn` has passed"
    )
    reporting_category: str | None
    amount: Money
    fee: Money
    net: Money
    exchange_rate: float | None
    fee_details: list[FeeDetail]
    description: str | None
    source: str | None
    created: datetime
    available_on: datetime | None
    synced_at: datetime


class ConnectedAccount(ApiModel):
    """The seller's Stripe account, as Stripe describes it now."""

    id: str
    connection: Literal["oauth", "express"] = Field(
        description="`oauth`: the account the seller connected; `express`: the one Opside opened"
    )
    type: str | None = None
    email: str | None = None
    country: str | None = None
    default_currency: str | None = None
    business_name: str | None = None
    charges_enabled: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    requirements_currently_due: list[str] = Field(default_factory=list)
    created: datetime | None = None


class OnboardingStatus(ApiModel):
    """The seed's shape, kept for the frontend: no `data`."""

    success: Literal[True] = True
    status: Literal["created", "not_found"]


class WebhookReceipt(ApiModel):
    received: bool = True
    event_id: str
    duplicate: bool
