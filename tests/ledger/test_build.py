"""`build_cases` against a real database: raw rows in, cases and their audit trail out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from opside_hub.db.models import AmazonFinancialEvent, AmazonLedgerEvent, AmazonReimbursement
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.ledger import repository, service
from opside_hub.ledger.service import build_cases
from opside_hub.runtime import Runtime
from tests.ledger.helpers import (
    T0,
    adjustment,
    cases_of,
    count_cases,
    create_sync,
    events_of,
    ledger_event,
    reimbursement,
    reversal,
    seed,
)

USER = "seller-1"


async def test_one_case_per_reimbursement_and_sku(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[
            reimbursement("R1", "SKU-A"),
            reimbursement("R1", "SKU-B", amount_total=300, cash=1, amount_per_unit=300),
            reimbursement("R2", None, reason="FeeCorrection"),
        ],
    )
    counts = await build_cases(runtime, USER, sync_id=None)

    cases = await cases_of(runtime, USER)
    assert sorted(cases) == ["R1:SKU-A", "R1:SKU-B", "R2"]
    assert (counts.created, counts.updated, counts.unchanged, counts.total) == (3, 0, 0, 3)
    b = cases["R1:SKU-B"]
    assert b.case_status == "synced"
    assert b.normalized_data["amountTotal"] == 300
    assert b.normalized_data["reimbursementId"] == "R1"
    assert [r["rowKey"] for r in b.raw_data["reimbursements"]] == ["R1|SKU-B||"]
    [entry] = b.audit_log
    assert entry["action"] == "created"
    assert entry["actor"] == "system"
    assert entry["status"] == {"from": None, "to": "synced"}
    events = await events_of(runtime, USER)
    assert sorted(e.kind for e in events) == ["case.created"] * 3
    assert {e.case_id for e in events} == {c.id for c in cases.values()}
    assert all(e.stage == "building_cases" for e in events)


async def test_reversal_updates_the_case_it_reverses(runtime: Runtime) -> None:
    await seed(runtime, USER, reimbursements=[reimbursement("R1", "SKU-A")])
    await build_cases(runtime, USER, sync_id=None)
    await seed(
        runtime,
        USER,
        reimbursements=[reversal("R9", "R1", "SKU-A", approved_at=T0 + timedelta(days=30))],
    )

    counts = await build_cases(runtime, USER, sync_id=None)

    cases = await cases_of(runtime, USER)
    assert sorted(cases) == ["R1:SKU-A"]  # no case for the reversal's own id
    case = cases["R1:SKU-A"]
    assert counts.updated == 1
    assert case.case_status == "reversed"
    assert (case.normalized_data["netAmount"], case.normalized_data["fullyReversed"]) == (0, True)
    assert [r["rowKey"] for r in case.raw_data["reimbursements"]] == ["R1|SKU-A||"]
    assert [r["rowKey"] for r in case.raw_data["reversals"]] == ["R9|SKU-A|R1|Lost_Warehouse"]
    last = case.audit_log[-1]
    assert last["action"] == "status_changed"
    assert last["status"] == {"from": "synced", "to": "reversed"}
    assert last["rowsAdded"] == ["R9|SKU-A|R1|Lost_Warehouse"]
    assert last["changes"]["netAmount"] == {"from": 1000, "to": 0}
    assert "status synced → reversed" in last["message"]
    kinds = [e.kind for e in await events_of(runtime, USER)]
    assert kinds == ["case.created", "case.status_changed"]


async def test_rerun_changes_nothing(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[reimbursement("R1", "SKU-A"), reversal("R2", "R1", "SKU-A")],
        adjustments=[adjustment("a1", transaction_number=None, sku="SKU-Q")],
        ledger=[ledger_event("l1", sku="SKU-L", reason="M", quantity=-1)],
    )
    first = await build_cases(runtime, USER, sync_id=None)
    before = {
        k: (c.audit_log, c.synced_at, c.normalized_data)
        for k, c in (await cases_of(runtime, USER)).items()
    }
    events_before = len(await events_of(runtime, USER))

    second = await build_cases(runtime, USER, sync_id=None)

    after = {
        k: (c.audit_log, c.synced_at, c.normalized_data)
        for k, c in (await cases_of(runtime, USER)).items()
    }
    assert first.created == 3
    assert (second.created, second.updated) == (0, 0)
    assert after == before
    assert len(await events_of(runtime, USER)) == events_before


async def test_changed_source_row_updates_and_audits_its_case(runtime: Runtime) -> None:
    sync_id = await create_sync(runtime, USER)
    await seed(runtime, USER, reimbursements=[reimbursement("R1", "SKU-A", amount_total=1000)])
    await build_cases(runtime, USER, sync_id=sync_id)
    await seed(runtime, USER, reimbursements=[reimbursement("R1", "SKU-A", amount_total=1200)])

    counts = await build_cases(runtime, USER, sync_id=sync_id)

    case = (await cases_of(runtime, USER))["R1:SKU-A"]
    assert (counts.created, counts.updated) == (0, 1)
    assert case.normalized_data["amountTotal"] == 1200
    assert case.raw_data["reimbursements"][0]["raw"]["amount-total"] == "1200"
    entry = case.audit_log[-1]
    assert entry["action"] == "updated"
    assert entry["actor"] == "sync"
    assert entry["syncId"] == sync_id
    assert entry["changes"] == {
        "amountTotal": {"from": 1000, "to": 1200},
        "netAmount": {"from": 1000, "to": 1200},
    }
    assert entry["rawChanged"] is True
    assert case.case_status == "synced"
    event = (await events_of(runtime, USER))[-1]
    assert (event.kind, event.case_id, event.sync_id, event.actor) == (
        "case.updated",
        case.id,
        sync_id,
        "sync",
    )
    assert event.data == entry


async def test_currencies_keep_their_minor_units(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[
            reimbursement("R1", "SKU-A", currency="JPY", amount_total=1500, amount_per_unit=750),
            reimbursement("R2", "SKU-A", currency="EUR", amount_total=1999),
        ],
    )
    await build_cases(runtime, USER, sync_id=None)
    cases = await cases_of(runtime, USER)
    assert (
        cases["R1:SKU-A"].normalized_data["amountTotal"],
        cases["R1:SKU-A"].normalized_data["currency"],
    ) == (1500, "JPY")
    assert (
        cases["R2:SKU-A"].normalized_data["amountTotal"],
        cases["R2:SKU-A"].normalized_data["currency"],
    ) == (1999, "EUR")


async def test_adjustments_join_their_reimbursement_or_stand_alone(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[reimbursement("R1", "SKU-A")],
        adjustments=[
            adjustment("paid", transaction_number="R1", sku="SKU-A"),
            adjustment("orphan", transaction_number=None, sku="SKU-B", amount=-400),
            adjustment("other-sku", transaction_number="R1", sku="SKU-Z"),
        ],
    )
    await build_cases(runtime, USER, sync_id=None)

    cases = await cases_of(runtime, USER)
    assert sorted(cases) == ["R1:SKU-A", "adj:orphan", "adj:other-sku"]
    paid = cases["R1:SKU-A"].normalized_data
    assert [s["rowKey"] for s in paid["settlements"]] == ["paid"]
    assert paid["settledAmount"] == 1000
    assert [r["rowKey"] for r in cases["R1:SKU-A"].raw_data["adjustments"]] == ["paid"]
    orphan = cases["adj:orphan"]
    assert orphan.case_status == "synced"
    assert (orphan.normalized_data["source"], orphan.normalized_data["amountTotal"]) == (
        "adjustment",
        -400,
    )


async def test_adjustment_case_merges_when_its_reimbursement_arrives(runtime: Runtime) -> None:
    await seed(
        runtime, USER, adjustments=[adjustment("early", transaction_number="R5", sku="SKU-A")]
    )
    await build_cases(runtime, USER, sync_id=None)
    assert sorted(await cases_of(runtime, USER)) == ["adj:early"]

    await seed(runtime, USER, reimbursements=[reimbursement("R5", "SKU-A")])
    counts = await build_cases(runtime, USER, sync_id=None)

    cases = await cases_of(runtime, USER)
    assert (counts.created, counts.updated) == (1, 1)
    merged = cases["adj:early"]
    assert merged.case_status == "merged"
    assert merged.normalized_data["mergedInto"] == "R5:SKU-A"
    assert merged.audit_log[-1]["status"] == {"from": "synced", "to": "merged"}
    assert [s["rowKey"] for s in cases["R5:SKU-A"].normalized_data["settlements"]] == ["early"]
    again = await build_cases(runtime, USER, sync_id=None)
    assert (again.created, again.updated) == (0, 0)


async def test_ledger_losses_without_reimbursement_are_detected(runtime: Runtime) -> None:
    later = T0 + timedelta(days=10)
    await seed(
        runtime,
        USER,
        ledger=[
            ledger_event("lost", sku="SKU-A", reason="M", quantity=-1),
            ledger_event("damaged", sku="SKU-B", reason="E", quantity=-2),
            ledger_event("disposed", sku="SKU-C", reason="D", quantity=-1),
            ledger_event("paid", sku="SKU-D", reason="M", quantity=-1),
            ledger_event("found-again", sku="SKU-E", reason="M", quantity=-1),
            ledger_event("found", sku="SKU-E", reason="F", quantity=1, event_at=later),
            ledger_event("shipped", sku="SKU-A", reason="", quantity=-3, event_type="Shipments"),
        ],
        reimbursements=[reimbursement("R1", "SKU-D", cash=1, approved_at=later)],
    )
    await build_cases(runtime, USER, sync_id=None)

    cases = await cases_of(runtime, USER)
    assert sorted(k for k in cases if k.startswith("ledger:")) == ["ledger:damaged", "ledger:lost"]
    lost = cases["ledger:lost"]
    assert lost.case_status == "detected"
    assert (lost.normalized_data["lossKind"], lost.normalized_data["quantityUnreimbursed"]) == (
        "lost",
        1,
    )
    damaged = cases["ledger:damaged"].normalized_data
    assert (damaged["lossKind"], damaged["reason"], damaged["quantityTotal"]) == (
        "damaged",
        "Damaged_Warehouse",
        2,
    )


async def test_detected_loss_resolves_when_amazon_reimburses_it(runtime: Runtime) -> None:
    await seed(runtime, USER, ledger=[ledger_event("lost", sku="SKU-A", reason="M", quantity=-1)])
    await build_cases(runtime, USER, sync_id=None)
    await seed(
        runtime,
        USER,
        reimbursements=[reimbursement("R1", "SKU-A", cash=1, approved_at=T0 + timedelta(days=3))],
    )

    await build_cases(runtime, USER, sync_id=None)

    case = (await cases_of(runtime, USER))["ledger:lost"]
    assert case.case_status == "resolved"
    assert case.normalized_data["coveredBy"] == [
        {"kind": "reimbursement", "reference": "R1", "date": "2025-01-13", "quantity": 1}
    ]
    assert case.audit_log[-1]["status"] == {"from": "detected", "to": "resolved"}


async def test_later_builds_only_revisit_changed_rows(runtime: Runtime) -> None:
    await seed(
        runtime,
        USER,
        reimbursements=[reimbursement(f"R{n}", "SKU-A") for n in range(20)],
        ledger=[ledger_event("lost", sku="SKU-B", reason="M", quantity=-1)],
    )
    await build_cases(runtime, USER, sync_id=None)
    # As if those rows had been synced long ago: only rows changed since the build are seeds.
    async with transaction(runtime.sessions) as session:
        old = utcnow() - timedelta(days=1)
        for model in (AmazonReimbursement, AmazonLedgerEvent, AmazonFinancialEvent):
            await session.execute(update(model).values(synced_at=old))
    await seed(runtime, USER, reimbursements=[reimbursement("R3", "SKU-A", amount_total=10)])

    counts = await build_cases(runtime, USER, sync_id=None)

    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 0)
    assert (await cases_of(runtime, USER))["R3:SKU-A"].normalized_data["amountTotal"] == 10


async def test_claims_spanning_batches_are_built_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "ROW_BATCH", 2)
    rows = [reimbursement(f"R{n}", "SKU-A") for n in range(5)]
    rows += [reversal(f"V{n}", f"R{n}", "SKU-A") for n in range(5)]
    await seed(runtime, USER, reimbursements=rows)
    calls: list[tuple[int, int]] = []

    async def progress(processed: int, total: int) -> None:
        calls.append((processed, total))

    counts = await build_cases(runtime, USER, sync_id=None, progress=progress)

    assert (counts.created, counts.updated, counts.unchanged) == (5, 0, 0)
    cases = await cases_of(runtime, USER)
    assert all(case.case_status == "reversed" for case in cases.values())
    assert all(len(case.audit_log) == 1 for case in cases.values())
    assert calls == [(2, 10), (4, 10), (6, 10), (8, 10), (10, 10)]


class Cancelled(Exception):
    pass


async def test_a_cancelled_build_resumes_where_it_stopped(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "ROW_BATCH", 3)
    sync_id = await create_sync(runtime, USER)
    await seed(
        runtime, USER, reimbursements=[reimbursement(f"R{n:02}", "SKU-A") for n in range(10)]
    )
    seen: list[int] = []

    async def cancel_after_two_batches(processed: int, total: int) -> None:
        seen.append(processed)
        if len(seen) == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        await build_cases(runtime, USER, sync_id=sync_id, progress=cancel_after_two_batches)
    assert await count_cases(runtime, USER) == 6  # two whole batches, nothing half-done

    resumed = await build_cases(runtime, USER, sync_id=sync_id)

    assert (resumed.created, resumed.updated) == (10, 0)  # counts carry over the resume
    assert await count_cases(runtime, USER) == 10
    assert len(await events_of(runtime, USER)) == 10
    fresh = await build_cases(runtime, USER, sync_id=None)
    assert (fresh.created, fresh.updated) == (0, 0)


async def test_users_are_kept_apart(runtime: Runtime) -> None:
    await seed(runtime, "a", reimbursements=[reimbursement("R1", "SKU-A")])
    await seed(runtime, "b", reimbursements=[reimbursement("R1", "SKU-A", amount_total=5)])
    await build_cases(runtime, "a", sync_id=None)
    assert await count_cases(runtime, "b") == 0
    await build_cases(runtime, "b", sync_id=None)
    assert (await cases_of(runtime, "b"))["R1:SKU-A"].normalized_data["amountTotal"] == 5
    assert (await cases_of(runtime, "a"))["R1:SKU-A"].normalized_data["amountTotal"] == 1000


async def test_planner_statistics_are_refreshed_when_stale(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "MIN_ROWS_FOR_STATISTICS", 1)
    await seed(runtime, USER, reimbursements=[reimbursement(f"R{n}", "SKU-A") for n in range(4)])
    async with transaction(runtime.sessions) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        first = await repository.ensure_statistics(session, AmazonReimbursement, 4)
    async with transaction(runtime.sessions) as session:
        second = await repository.ensure_statistics(session, AmazonReimbursement, 4)
    # PostgreSQL analyzes once (then knows the rows); SQLite's planner needs no statistics.
    assert (first, second) == ((True, False) if postgres else (False, False))
