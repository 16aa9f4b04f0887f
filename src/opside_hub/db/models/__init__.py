"""Every table, imported so that `Base.metadata` is complete (Alembic, tests)."""

from opside_hub.db.models.amazon_financial_event import AmazonFinancialEvent
from opside_hub.db.models.amazon_inventory import AmazonInventory
from opside_hub.db.models.amazon_ledger_event import AmazonLedgerEvent
from opside_hub.db.models.amazon_reimbursement import AmazonReimbursement
from opside_hub.db.models.amazon_report_request import AmazonReportRequest
from opside_hub.db.models.evidence_document import EvidenceDocument
from opside_hub.db.models.gmail_message import GmailMessage
from opside_hub.db.models.mcde_document import McdeDocument
from opside_hub.db.models.oauth_state import OAuthState
from opside_hub.db.models.quarantined_row import QuarantinedRow
from opside_hub.db.models.refund_engine_case import RefundEngineCase
from opside_hub.db.models.stripe_account import StripeAccount
from opside_hub.db.models.stripe_balance_transaction import StripeBalanceTransaction
from opside_hub.db.models.stripe_event import StripeEvent
from opside_hub.db.models.sync_checkpoint import SyncCheckpoint
from opside_hub.db.models.sync_event import SyncEvent
from opside_hub.db.models.sync_job import SyncJob
from opside_hub.db.models.token import Token
from opside_hub.db.models.user import User

__all__ = [
    "AmazonFinancialEvent",
    "AmazonInventory",
    "AmazonLedgerEvent",
    "AmazonReimbursement",
    "AmazonReportRequest",
    "EvidenceDocument",
    "GmailMessage",
    "McdeDocument",
    "OAuthState",
    "QuarantinedRow",
    "RefundEngineCase",
    "StripeAccount",
    "StripeBalanceTransaction",
    "StripeEvent",
    "SyncCheckpoint",
    "SyncEvent",
    "SyncJob",
    "Token",
    "User",
]

# Tables whose rows belong to one user: row-level security applies to them on PostgreSQL.
USER_OWNED_TABLES = (
    "tokens",
    "oauth_states",
    "stripe_accounts",
    "sync_jobs",
    "sync_events",
    "amazon_reimbursements",
    "amazon_ledger_events",
    "amazon_inventory",
    "amazon_financial_events",
    "stripe_balance_transactions",
    "gmail_messages",
    "evidence_documents",
    "mcde_documents",
    "refund_engine_cases",
    "amazon_report_requests",
    "sync_checkpoints",
    "quarantined_rows",
)
