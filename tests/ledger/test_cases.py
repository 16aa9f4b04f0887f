"""The API's view of stored cases, without a database."""

from __future__ import annotations

import pytest

from opside_hub.core.exceptions import Unprocessable
from opside_hub.ledger.cases import case_fields, event_bound
from opside_hub.ledger.normalize import assess_losses, ledger_case, reimbursement_case
from tests.ledger.test_normalize import adj, loss, reimb, reversal


def test_money_fields_carry_the_case_currency() -> None:
    draft = reimbursement_case(
        [reimb("R1", currency="CAD"), reversal("R2", "R1", currency="CAD")],
        [adj("a1", "R1", currency="CAD")],
    )
    fields = case_fields(draft.normalized)
    assert fields.amount_total is not None
    assert (fields.amount_total.amount, fields.amount_total.currency) == (1000, "CAD")
    assert fields.net_amount is not None
    assert fields.net_amount.amount == 0
    assert fields.reversals is not None
    assert fields.reversals[0].amount.model_dump() == {"amount": -1000, "currency": "CAD"}
    assert fields.settlements is not None
    assert fields.settlements[0].amount.model_dump() == {"amount": 1000, "currency": "CAD"}
    dumped = fields.model_dump(mode="json", by_alias=True)
    assert dumped["amountPerUnit"] == {"amount": 500, "currency": "CAD"}
    assert dumped["eventDate"] == "2025-03-01"


def test_ledger_cases_have_covers_and_no_money() -> None:
    rows = [loss("l1", "M", -2), loss("f1", "F", 1, days=1)]
    [assessment] = assess_losses(rows, [])
    fields = case_fields(ledger_case(assessment).normalized)
    assert fields.amount_total is None
    assert fields.covered_by is not None
    assert fields.covered_by[0].model_dump(mode="json", by_alias=True) == {
        "kind": "found",
        "reference": "f1",
        "date": "2025-03-02",
        "quantity": 1,
    }
    assert (fields.quantity_unreimbursed, fields.loss_kind) == (1, "lost")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-31", "2025-01-31T00:00:00+00:00"),
        ("2025-01-31T10:00:00Z", "2025-01-31T10:00:00+00:00"),
        ("2025-01-31T10:00:00+02:00", "2025-01-31T08:00:00+00:00"),
        ("2025-01-31T10:00:00 02:00", "2025-01-31T08:00:00+00:00"),  # "+" unencoded in a URL
        ("2025-01-31T10:00:00.250000-01:00", "2025-01-31T11:00:00.250000+00:00"),
        (None, None),
    ],
)
def test_event_bounds(value: str | None, expected: str | None) -> None:
    assert event_bound(value, "from") == expected


@pytest.mark.parametrize("value", ["2025-01-31T10:00:00", "31/01/2025", "2025-02-30", "soon"])
def test_bad_event_bounds(value: str) -> None:
    with pytest.raises(Unprocessable) as raised:
        event_bound(value, "to")
    assert raised.value.details[0]["field"] == "query.to"
