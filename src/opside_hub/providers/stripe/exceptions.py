from __future__ import annotations

from opside_hub.core.exceptions import BadRequest, NotFound, ServiceUnavailable


class TransactionNotFound(NotFound):
    code = "transaction_not_found"
    message = "No such balance transaction."


class StripeAccountNotFound(NotFound):
    code = "stripe_account_not_found"
    message = "No Stripe account is connected or was opened for this user."


class InvalidSignature(BadRequest):
    """The `Stripe-Signature` does not prove that Stripe sent this body, recently."""

    code = "invalid_signature"
    message = "The Stripe-Signature header is missing or does not match the body."


class InvalidEvent(BadRequest):
    code = "invalid_event"
    message = "The webhook body is not a Stripe event."


class WebhookNotConfigured(ServiceUnavailable):
    code = "webhook_not_configured"
    message = "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET."
