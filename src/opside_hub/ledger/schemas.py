from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic.alias_generators import to_camel

from opside_hub.core.schemas import ApiModel, Money
from opside_hub.core.timeparams import IsoDate

MAX_DOCUMENTS = 500

# -- MCDE documents --------------------------------------------------------------------------


class MoneyIn(ApiModel):
    """Integer minor units (never a decimal) and an ISO 4217 code."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    amount: StrictInt = Field(ge=0, le=10**15)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class McdeDocumentCreate(ApiModel):
    """A manufacturing-cost document as the MCDE service registers it. Unknown fields are
    kept with the document (`raw`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )

    document_id: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(default=None, min_length=1, max_length=255)
    asin: str | None = Field(default=None, min_length=1, max_length=32)
    unit_manufacturing_cost: MoneyIn
    supplier: str | None = Field(default=None, max_length=512)
    document_date: IsoDate
    source: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _sku_or_asin(self) -> McdeDocumentCreate:
        if not self.sku and not self.asin:
            raise ValueError("give a sku, an asin, or both")
        return self


class McdeDocumentBatch(ApiModel):
    documents: list[McdeDocumentCreate] = Field(min_length=1, max_length=MAX_DOCUMENTS)

    @field_validator("documents")
    @classmethod
    def _unique_ids(cls, documents: list[McdeDocumentCreate]) -> list[McdeDocumentCreate]:
        seen: set[str] = set()
        for document in documents:
            if document.document_id in seen:
                raise ValueError(f"documentId {document.document_id!r} appears twice")
            seen.add(document.document_id)
        return documents


class DocumentResult(ApiModel):
    document_id: str
    status: Literal["created", "updated", "unchanged"]


class Registration(ApiModel):
    received: int
    created: int
    updated: int
    unchanged: int
    linking: Literal["queued", "not_needed"]
    documents: list[DocumentResult]


class McdeDocument(ApiModel):
    document_id: str
    sku: str | None
    asin: str | None
    unit_manufacturing_cost: Money
    supplier: str | None
    document_date: date
    source: str | None
    created_at: datetime
    updated_at: datetime


# -- cases -----------------------------------------------------------------------------------


class Reversal(ApiModel):
    reimbursement_id: str
    approved_at: datetime | None = None
    amount: Money
    quantity: int


class Settlement(ApiModel):
    """A financial adjustment that paid a reimbursement out (or took it back)."""

    row_key: str
    adjustment_type: str | None = None
    transaction_number: str | None = None
    posted_at: datetime | None = None
    amount: Money
    quantity: int


class Cover(ApiModel):
    """Units Amazon made good against a ledger loss: found again, or reimbursed."""

    kind: Literal["found", "reimbursement"]
    reference: str
    day: date = Field(alias="date")
    quantity: int


class CaseFields(ApiModel):
    """The typed fields of a case (`normalized_data`); which are set depends on `source`."""

    source: Literal["reimbursement", "adjustment", "ledger"]
    sku: str | None = None
    fnsku: str | None = None
    asin: str | None = None
    product_name: str | None = None
    reason: str | None = None
    event_at: datetime | None = None
    event_date: date | None = None
    currency: str | None = None
    amount_total: Money | None = None
    quantity_total: int | None = None
    # reimbursements
    reimbursement_id: str | None = None
    amazon_case_id: str | None = None
    amazon_order_id: str | None = None
    condition: str | None = None
    amount_per_unit: Money | None = None
    quantity_cash: int | None = None
    quantity_inventory: int | None = None
    approved_at: datetime | None = None
    reversals: list[Reversal] | None = None
    reversed_amount: Money | None = None
    reversed_quantity: int | None = None
    net_amount: Money | None = None
    net_quantity: int | None = None
    fully_reversed: bool | None = None
    original_missing: bool | None = None
    settlements: list[Settlement] | None = None
    settled_amount: Money | None = None
    currency_mismatch: bool | None = None
    # adjustments
    adjustment_type: str | None = None
    transaction_number: str | None = None
    posted_at: datetime | None = None
    merged_into: str | None = None
    # ledger losses
    event_type: str | None = None
    reason_code: str | None = None
    loss_kind: Literal["lost", "damaged"] | None = None
    reference_id: str | None = None
    fulfillment_center: str | None = None
    disposition: str | None = None
    country: str | None = None
    quantity_covered: int | None = None
    quantity_unreimbursed: int | None = None
    covered_by: list[Cover] | None = None
    reconciled_quantity: int | None = None
    unreconciled_quantity: int | None = None


class AuditEntry(ApiModel):
    """Who did what to the case, when; the action's own details follow (`changes`,
    `status`, `document`...)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    at: datetime
    actor: str
    action: str
    sync_id: str | None = None
    message: str | None = None


class Case(ApiModel):
    id: str
    claim_id: str
    case_status: str
    mcde_doc_id: str | None = Field(description="`documentId` of the linked MCDE document")
    linked_after_event: bool | None = Field(
        default=None, description="the linked document is dated after the case's event"
    )
    normalized: CaseFields
    synced_at: datetime
    created_at: datetime


class CaseDetail(Case):
    mcde_document: McdeDocument | None
    audit_log: list[AuditEntry]
    raw_data: dict[str, Any]
