from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opside_hub.core.schemas import ApiModel, Money

ClaimSource = Literal["reimbursement", "adjustment"]
ClaimStatus = Literal["reimbursed", "reversal", "clawback"]


class Claim(ApiModel):
    """A reimbursement row or a financial adjustment: money Amazon paid (or took back)."""

    claim_id: str
    source: ClaimSource
    reimbursement_id: str | None
    case_id: str | None
    amazon_order_id: str | None
    original_reimbursement_id: str | None
    sku: str | None
    fnsku: str | None
    asin: str | None
    reason: str | None
    condition: str | None
    quantity_cash: int
    quantity_inventory: int
    amount_per_unit: Money
    amount: Money
    approved_at: datetime | None
    status: ClaimStatus


class InventoryItem(ApiModel):
    marketplace_id: str
    sku: str
    fnsku: str | None
    asin: str | None
    condition: str | None
    product_name: str | None
    total_quantity: int
    fulfillable_quantity: int
    last_updated_at: datetime | None
    synced_at: datetime


class Fee(ApiModel):
    id: str
    source: Literal["financial_event"]
    event_group: str
    fee_type: str | None
    posted_at: datetime | None
    amazon_order_id: str | None
    sku: str | None
    asin: str | None
    quantity: int
    amount: Money
    description: str | None


# SP-API wire models: the parts of Amazon's models (shared/specs/amazon) that we read. Field
# names are Amazon's; unknown fields are kept, so a newer API version does not break parsing.


class SpApiModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreateReportResponse(SpApiModel):
    reportId: str


class Report(SpApiModel):
    reportId: str
    reportType: str
    processingStatus: Literal["CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"]
    createdTime: datetime
    dataStartTime: datetime | None = None
    dataEndTime: datetime | None = None
    reportDocumentId: str | None = None


class GetReportsResponse(SpApiModel):
    reports: list[Report]
    nextToken: str | None = None


class ReportDocument(SpApiModel):
    reportDocumentId: str
    url: str
    compressionAlgorithm: Literal["GZIP"] | None = None


class ListFinancialEventsPayload(SpApiModel):
    NextToken: str | None = None
    FinancialEvents: dict[str, Any] = Field(default_factory=dict)


class ListFinancialEventsResponse(SpApiModel):
    payload: ListFinancialEventsPayload | None = None


class InventorySummariesResult(SpApiModel):
    inventorySummaries: list[dict[str, Any]]


class InventoryPagination(SpApiModel):
    nextToken: str | None = None


class GetInventorySummariesResponse(SpApiModel):
    payload: InventorySummariesResult | None = None
    pagination: InventoryPagination | None = None


class Marketplace(SpApiModel):
    id: str
    name: str
    countryCode: str
    defaultCurrencyCode: str


class Participation(SpApiModel):
    isParticipating: bool
    hasSuspendedListings: bool


class MarketplaceParticipation(SpApiModel):
    marketplace: Marketplace
    participation: Participation


class GetMarketplaceParticipationsResponse(SpApiModel):
    payload: list[MarketplaceParticipation] = Field(default_factory=list)
