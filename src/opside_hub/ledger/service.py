"""The case ledger's two jobs: build cases from the raw Amazon rows, link them to MCDE documents.

Both are entry points of the sync pipeline (`link_documents` also of the `ledger.link_documents`
job the MCDE route defers) and own their transactions: one per batch, so a cancellation between
batches (the progress callback raises) leaves every case consistent, and running either again
changes nothing that is already right.

**Building** (`build_cases`) applies the rules of `normalize.py` in three phases, each a walk in
id order over *seed* rows, a batch per transaction:
1. reimbursement rows → their `(reimbursement id, sku)` claims;
2. adjustment items → the reimbursement claim they settle, else their own `adj:` case;
3. items (FNSKU) with ledger losses → their `ledger:` cases.
A claim touched by a seed is rebuilt from *all* its rows and compared with the stored case: only
a difference in the normalized fields, the source rows or the status is written, with an audit
entry naming what changed (`audit_log` and `sync_events`). A claim whose rows span batches is
rebuilt once, in the batch of its first seed row.

Seeds are every row on the first build (or after `RULES_VERSION` changes), then only rows that
changed since the previous complete build (`synced_at` ≥ its start, less a margin for clock
skew): the bulk upsert rewrites a raw row, and its `synced_at`, only when its content changed.
The position (phase, last id) is saved with each batch in `sync_checkpoints`
(`ledger.cases`), so a run of the same sync that died resumes where it stopped; any other run
walks again from the last complete build, which is always correct because every write is
idempotent. Batches of one user's ledger are serialized with the linker's (advisory lock).

**Linking** (`link_documents`) reads the user's documents once, then walks the linkable cases
and writes only the cases whose chosen document (`linking.py`) differs from the stored one.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opside_hub.core.logging import get_logger
from opside_hub.db.base import new_id
from opside_hub.db.models import AmazonFinancialEvent, AmazonReimbursement, RefundEngineCase
from opside_hub.db.session import scope_to_user, transaction
from opside_hub.db.types import utcnow
from opside_hub.ledger import repository
from opside_hub.ledger.linking import Document, DocumentIndex, LinkDecision, choose_document
from opside_hub.ledger.normalize import (
    LINKABLE_STATUSES,
    LINKED,
    RESOLVED,
    RULES_VERSION,
    SYNCED,
    AdjustmentRow,
    CaseDraft,
    ReimbursementRow,
    adjustment_case,
    assess_losses,
    case_status,
    changes,
    ledger_case,
    reimbursement_case,
    row_keys,
)
from opside_hub.runtime import Runtime

log = get_logger(__name__)

LINK_DOCUMENTS_JOB = "ledger.link_documents"
BUILD_CHECKPOINT = "ledger.cases"
LINK_CHECKPOINT = "ledger.mcde_links"
ROW_BATCH = 1000
ITEM_BATCH = 200
CASE_BATCH = 1000
CLOCK_SKEW = timedelta(minutes=10)
STAGE_BUILD = "building_cases"
STAGE_LINK = "linking_documents"
PHASES = ("reimbursements", "adjustments", "ledger", "done")
MAX_MESSAGE_FIELDS = 8
STATISTICS_EVERY = 5000  # cases created between two checks of the planner's statistics

Progress = Callable[[int, int], Awaitable[None]]
ClaimKey = tuple[str, str | None]
SkipRule = Callable[[Sequence[ReimbursementRow], Sequence[AdjustmentRow]], bool]


@dataclass
class CaseCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class LinkCounts:
    linked: int = 0
    relinked: int = 0
    unlinked: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.linked + self.relinked + self.unlinked + self.unchanged


@asynccontextmanager
async def _transaction(
    runtime: Runtime, user_id: str, *, write: bool = False
) -> AsyncIterator[AsyncSession]:
    async with transaction(runtime.sessions) as session:
        await scope_to_user(session, user_id)
        if write:
            await repository.lock_ledger(session, user_id)
        yield session


def _actor(sync_id: str | None) -> str:
    return "sync" if sync_id else "system"


def _audit(
    now: datetime, actor: str, sync_id: str | None, action: str, message: str, **data: Any
) -> dict[str, Any]:
    return {
        "at": now.isoformat(),
        "actor": actor,
        "syncId": sync_id,
        "action": action,
        "message": message,
        **data,
    }


def _event(
    user_id: str, sync_id: str | None, case_id: str, stage: str, entry: dict[str, Any]
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "sync_id": sync_id,
        "case_id": case_id,
        "kind": f"case.{entry['action']}",
        "stage": stage,
        "actor": entry["actor"],
        "message": entry["message"],
        "data": entry,
        "created_at": datetime.fromisoformat(entry["at"]),
    }


# -- building --------------------------------------------------------------------------------


async def build_cases(
    runtime: Runtime,
    user_id: str,
    *,
    sync_id: str | None,
    progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> CaseCounts:
    """Create or update the user's cases from their raw Amazon rows (see the module docstring).

    `progress(processed, total)` runs after each committed batch, in seed rows (and items for
    the ledger phase); it may raise to stop the build there."""
    build = _Build(runtime, user_id, sync_id)
    counts = await build.run(progress)
    log.info("ledger.cases.built", user_id=user_id, sync_id=sync_id, **counts.as_dict())
    return counts


class _Build:
    def __init__(self, runtime: Runtime, user_id: str, sync_id: str | None) -> None:
        self.runtime = runtime
        self.user_id = user_id
        self.sync_id = sync_id
        self.actor = _actor(sync_id)
        self.since: datetime | None = None
        self.reversals: dict[str, set[str]] = {}
        self.adjustment_index: dict[tuple[str, str | None], list[int]] = {}
        self.ledger_keys: list[str] | None = None
        self.counts = CaseCounts()
        self.cases_known = 0
        self.created_at_check = 0
        self.cursor: dict[str, Any] = {}
        self.run_state: dict[str, Any] = {}

    async def run(self, progress: Progress | None) -> CaseCounts:
        await self._start()
        state = self.run_state
        while state["phase"] != "done":
            async with _transaction(self.runtime, self.user_id, write=True) as session:
                if self.counts.created - self.created_at_check >= STATISTICS_EVERY:
                    self.created_at_check = self.counts.created
                    await repository.ensure_statistics(
                        session, RefundEngineCase, self.cases_known + self.counts.created
                    )
                phase = state["phase"]
                step = {
                    "reimbursements": self._reimbursements,
                    "adjustments": self._adjustments,
                    "ledger": self._ledger,
                }[phase]
                done = await step(session, state)
                if done == 0:
                    state["phase"] = PHASES[PHASES.index(phase) + 1]
                    state["after"] = "" if state["phase"] == "ledger" else 0
                state["processed"] += done
                state["counts"] = self.counts.as_dict()
                if state["phase"] == "done":
                    watermark = datetime.fromisoformat(state["startedAt"]) - CLOCK_SKEW
                    self.cursor = {
                        "rulesVersion": RULES_VERSION,
                        "watermark": watermark.isoformat(),
                        "run": None,
                    }
                else:
                    self.cursor["run"] = state
                await repository.save_checkpoint(
                    session, self.user_id, BUILD_CHECKPOINT, self.cursor
                )
            if progress is not None and done:
                await progress(state["processed"], max(state["total"], state["processed"]))
        return self.counts

    async def _start(self) -> None:
        async with _transaction(self.runtime, self.user_id) as session:
            reimbursements = await repository.count_reimbursements(session, self.user_id, None)
            adjustments = await repository.count_adjustments(session, self.user_id, None)
            cases = await repository.count_cases(session, self.user_id)
            await repository.ensure_statistics(session, AmazonReimbursement, reimbursements)
            await repository.ensure_statistics(session, AmazonFinancialEvent, adjustments)
            await repository.ensure_statistics(session, RefundEngineCase, cases)
            self.cursor = await repository.get_checkpoint(session, self.user_id, BUILD_CHECKPOINT)
            state = self.cursor.get("run")
            if (
                isinstance(state, dict)
                and self.sync_id is not None
                and state.get("syncId") == self.sync_id
                and state.get("rulesVersion") == RULES_VERSION
            ):
                since = state.get("since")
                self.since = datetime.fromisoformat(since) if since else None
                self.counts = CaseCounts(**state["counts"])
                log.info("ledger.cases.resumed", user_id=self.user_id, phase=state["phase"])
            else:
                watermark = self.cursor.get("watermark")
                if watermark and self.cursor.get("rulesVersion") == RULES_VERSION:
                    self.since = datetime.fromisoformat(watermark)
                    reimbursements = await repository.count_reimbursements(
                        session, self.user_id, self.since
                    )
                    adjustments = await repository.count_adjustments(
                        session, self.user_id, self.since
                    )
                state = {
                    "syncId": self.sync_id,
                    "rulesVersion": RULES_VERSION,
                    "startedAt": utcnow().isoformat(),
                    "since": self.since.isoformat() if self.since else None,
                    "phase": PHASES[0],
                    "after": 0,
                    "processed": 0,
                    "total": reimbursements + adjustments + len(await self._ledger_keys(session)),
                    "counts": self.counts.as_dict(),
                }
                self.cursor["run"] = state
                await repository.save_checkpoint(
                    session, self.user_id, BUILD_CHECKPOINT, self.cursor
                )
            self.run_state = state
            # The cases a resumed run created are counted in `cases` already.
            self.cases_known = cases - self.counts.created
            self.created_at_check = self.counts.created
            # Read once per run: the build never writes raw rows, and one sync runs at a time.
            self.reversals = await repository.reversal_ids(session, self.user_id)
            self.adjustment_index = await repository.adjustment_index(session, self.user_id)

    def _seed(self, synced_at: datetime | None) -> bool:
        return self.since is None or (synced_at is not None and synced_at >= self.since)

    async def _ledger_keys(self, session: AsyncSession) -> list[str]:
        if self.ledger_keys is None:
            keys = await repository.ledger_item_keys(session, self.user_id, self.since)
            self.ledger_keys = sorted(keys)
        return self.ledger_keys

    # Phases: each handles one batch after `state["after"]` and returns its size (0: finished).

    async def _reimbursements(self, session: AsyncSession, state: dict[str, Any]) -> int:
        keys = await repository.reimbursement_keys_page(
            session, self.user_id, after_id=int(state["after"]), since=self.since, limit=ROW_BATCH
        )
        if not keys:
            return 0
        low = keys[0].id

        def seen_before(rows: Sequence[ReimbursementRow], _: Sequence[AdjustmentRow]) -> bool:
            return any(row.id < low and self._seed(row.synced_at) for row in rows)

        claims = {(key.case_reimbursement_id, key.sku) for key in keys}
        await self._rebuild_claims(session, claims, seen_before)
        state["after"] = keys[-1].id
        return len(keys)

    async def _adjustments(self, session: AsyncSession, state: dict[str, Any]) -> int:
        rows = await repository.adjustments_page(
            session, self.user_id, after_id=int(state["after"]), since=self.since, limit=ROW_BATCH
        )
        if not rows:
            return 0
        low = rows[0].id
        numbers = {row.transaction_number for row in rows if row.transaction_number}
        matches: dict[tuple[str, str | None], repository.ReimbursementKey] = {}
        for key in sorted(
            await repository.reimbursement_keys(session, self.user_id, numbers),
            key=lambda k: k.id,
        ):
            matches.setdefault((key.reimbursement_id, key.sku), key)
        claims: set[ClaimKey] = set()
        own: list[CaseDraft] = []
        for row in rows:
            match = matches.get((row.transaction_number or "", row.sku))
            if match is not None:
                claims.add((match.case_reimbursement_id, match.sku))
            else:
                own.append(adjustment_case(row))

        def seen_before(
            claim_rows: Sequence[ReimbursementRow], adjustments: Sequence[AdjustmentRow]
        ) -> bool:
            # Phase 1 rebuilt the claims with a seed reimbursement row; earlier batches of this
            # phase those with an earlier seed adjustment.
            return any(self._seed(row.synced_at) for row in claim_rows) or any(
                a.id < low and self._seed(a.synced_at) for a in adjustments
            )

        await self._rebuild_claims(session, claims, seen_before)
        await self._apply(session, own)
        state["after"] = rows[-1].id
        return len(rows)

    async def _ledger(self, session: AsyncSession, state: dict[str, Any]) -> int:
        keys = await self._ledger_keys(session)
        start = bisect.bisect_right(keys, str(state["after"]))
        batch = keys[start : start + ITEM_BATCH]
        if not batch:
            return 0
        rows = await repository.ledger_rows(session, self.user_id, batch)
        covers = await repository.warehouse_reimbursements(session, self.user_id, batch)
        drafts = [ledger_case(assessment) for assessment in assess_losses(rows, covers)]
        # A loss Amazon already made good opens no case; a detected one it makes good resolves.
        resolved = {draft.claim_id for draft in drafts if draft.status == RESOLVED}
        await self._apply(session, drafts, never_create=resolved)
        state["after"] = batch[-1]
        return len(batch)

    async def _rebuild_claims(
        self, session: AsyncSession, claims: Collection[ClaimKey], skip: SkipRule
    ) -> None:
        if not claims:
            return
        ids = {reimbursement_id for reimbursement_id, _ in claims}
        for reimbursement_id in list(ids):
            ids |= self.reversals.get(reimbursement_id, set())
        grouped: dict[ClaimKey, list[ReimbursementRow]] = {}
        for row in await repository.reimbursements(session, self.user_id, ids):
            key = (row.case_reimbursement_id, row.sku)
            if key in claims:
                grouped.setdefault(key, []).append(row)
        adjustment_ids = {
            key: sorted(
                {
                    adjustment_id
                    for row in rows
                    for adjustment_id in self.adjustment_index.get(
                        (row.reimbursement_id, row.sku), ()
                    )
                }
            )
            for key, rows in grouped.items()
        }
        loaded = {
            row.id: row
            for row in await repository.adjustments(
                session, self.user_id, {i for ids_ in adjustment_ids.values() for i in ids_}
            )
        }
        drafts: list[CaseDraft] = []
        merged: list[CaseDraft] = []
        for key in sorted(grouped, key=lambda k: (k[0], k[1] or "")):
            adjustments = [loaded[i] for i in adjustment_ids[key] if i in loaded]
            if skip(grouped[key], adjustments):
                continue
            draft = reimbursement_case(grouped[key], adjustments)
            drafts.append(draft)
            merged.extend(adjustment_case(a, merged_into=draft.claim_id) for a in adjustments)
        await self._apply(session, drafts)
        # An adjustment first seen without its reimbursement had a case of its own: close it.
        await self._apply(session, merged, only_existing=True)

    async def _apply(
        self,
        session: AsyncSession,
        drafts: Sequence[CaseDraft],
        *,
        only_existing: bool = False,
        never_create: Collection[str] = (),
    ) -> None:
        """Write the drafts that differ from the stored cases, each with its audit entry."""
        if not drafts:
            return
        unique = {draft.claim_id: draft for draft in drafts}
        stored = await repository.cases_by_claim(session, self.user_id, unique)
        now = utcnow()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for claim_id, draft in unique.items():
            case = stored.get(claim_id)
            if case is None:
                if only_existing or claim_id in never_create:
                    continue
                status = case_status(None, draft.status, linked=False)
                sources = sorted(row_keys(draft.raw_data))
                entry = _audit(
                    now,
                    self.actor,
                    self.sync_id,
                    "created",
                    f"case {claim_id} created ({status}) from {len(sources)} source row(s)",
                    status={"from": None, "to": status},
                    rowsAdded=sources,
                )
                case_id = new_id()
                inserts.append(
                    {
                        "id": case_id,
                        "user_id": self.user_id,
                        "claim_id": claim_id,
                        "mcde_doc_id": None,
                        "case_status": status,
                        "synced_at": now,
                        "raw_data": draft.raw_data,
                        "normalized_data": draft.normalized,
                        "audit_log": [entry],
                        "created_at": now,
                    }
                )
                events.append(_event(self.user_id, self.sync_id, case_id, STAGE_BUILD, entry))
                self.counts.created += 1
                continue
            status = case_status(
                case.case_status, draft.status, linked=case.mcde_doc_id is not None
            )
            diff = changes(case.normalized_data, draft.normalized)
            raw_changed = case.raw_data != draft.raw_data
            if not diff and not raw_changed and status == case.case_status:
                if not only_existing:
                    self.counts.unchanged += 1
                continue
            old_keys, new_keys = row_keys(case.raw_data), row_keys(draft.raw_data)
            status_changed = status != case.case_status
            message = f"case {claim_id} updated"
            if diff:
                names = list(diff)
                more = len(names) - MAX_MESSAGE_FIELDS
                message += ": " + ", ".join(names[:MAX_MESSAGE_FIELDS])
                message += f" (+{more} more)" if more > 0 else ""
            elif raw_changed:
                message += ": source rows"
            if status_changed:
                message += f"; status {case.case_status} → {status}"
            entry = _audit(
                now,
                self.actor,
                self.sync_id,
                "status_changed" if status_changed else "updated",
                message,
                changes=diff,
                rowsAdded=sorted(new_keys - old_keys),
                rowsRemoved=sorted(old_keys - new_keys),
                rawChanged=raw_changed,
                **({"status": {"from": case.case_status, "to": status}} if status_changed else {}),
            )
            updates.append(
                {
                    "id": case.id,
                    "case_status": status,
                    "normalized_data": draft.normalized,
                    "raw_data": draft.raw_data,
                    "audit_log": [*case.audit_log, entry],
                    "synced_at": now,
                }
            )
            events.append(_event(self.user_id, self.sync_id, case.id, STAGE_BUILD, entry))
            self.counts.updated += 1
        await repository.insert_cases(session, inserts)
        await repository.update_cases(session, updates)
        await repository.add_events(session, events)


# -- linking ---------------------------------------------------------------------------------


def documents_fingerprint(documents: Sequence[Document]) -> str:
    """Identifies a set of documents: equal fingerprints, equal linking decisions."""
    rows = sorted(
        (
            d.id,
            d.document_id,
            d.sku,
            d.asin,
            d.document_date.isoformat(),
            d.unit_cost_amount,
            d.currency,
            d.supplier,
        )
        for d in documents
    )
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


async def documents_already_linked(runtime: Runtime, user_id: str) -> bool:
    """Whether the last complete linking pass used exactly the user's current documents
    (then a pass triggered by a document registration has nothing to do)."""
    async with _transaction(runtime, user_id) as session:
        documents = await repository.all_documents(session, user_id)
        cursor = await repository.get_checkpoint(session, user_id, LINK_CHECKPOINT)
    return cursor.get("documents") == documents_fingerprint(documents)


async def link_documents(
    runtime: Runtime,
    user_id: str,
    *,
    sync_id: str | None,
    progress: Callable[[int, int], Awaitable[None]] | None = None,
    actor: str | None = None,
) -> LinkCounts:
    """Link every linkable case of the user to its MCDE document (`linking.py`), relink those
    for which a better document arrived, unlink those left without one; audit each change."""
    actor = actor or _actor(sync_id)
    async with _transaction(runtime, user_id) as session:
        documents = await repository.all_documents(session, user_id)
        total = await repository.count_linkable(session, user_id)
        await repository.ensure_statistics(session, RefundEngineCase, total)
    index = DocumentIndex(documents)
    counts = LinkCounts()
    after = ""
    processed = 0
    while True:
        async with _transaction(runtime, user_id, write=True) as session:
            targets = await repository.linkable_page(
                session, user_id, after_claim=after, limit=CASE_BATCH
            )
            if targets:
                await _link_batch(session, user_id, sync_id, actor, index, targets, counts)
        if not targets:
            break
        after = targets[-1].claim_id
        processed += len(targets)
        if progress is not None:
            await progress(processed, max(total, processed))
    async with _transaction(runtime, user_id) as session:
        await repository.save_checkpoint(
            session,
            user_id,
            LINK_CHECKPOINT,
            {"documents": documents_fingerprint(documents), "at": utcnow().isoformat()},
        )
    log.info(
        "ledger.documents.linked",
        user_id=user_id,
        sync_id=sync_id,
        linked=counts.linked,
        relinked=counts.relinked,
        unlinked=counts.unlinked,
    )
    return counts


async def _link_batch(
    session: AsyncSession,
    user_id: str,
    sync_id: str | None,
    actor: str,
    index: DocumentIndex,
    targets: Sequence[repository.LinkTarget],
    counts: LinkCounts,
) -> None:
    decisions: dict[str, LinkDecision | None] = {
        t.id: choose_document(index, sku=t.sku, asin=t.asin, event_date=t.event_date)
        for t in targets
    }

    def chosen(case_id: str) -> str | None:
        decision = decisions[case_id]
        return decision.document.id if decision else None

    changed = [t.id for t in targets if chosen(t.id) != t.mcde_doc_id]
    counts.unchanged += len(targets) - len(changed)
    if not changed:
        return
    # Re-read under lock: the build may have changed a status (or the audit log) meanwhile.
    locked = await repository.lock_cases(session, user_id, changed)
    now = utcnow()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for case_id in changed:
        case = locked.get(case_id)
        if case is None or case.case_status not in LINKABLE_STATUSES:
            continue
        decision, document_id = decisions[case_id], chosen(case_id)
        if document_id == case.mcde_doc_id:
            counts.unchanged += 1
            continue
        previous = index.by_id.get(case.mcde_doc_id) if case.mcde_doc_id else None
        base = SYNCED if case.case_status in (SYNCED, LINKED) else case.case_status
        status = case_status(case.case_status, base, linked=document_id is not None)
        if decision is None:
            action = "unlinked"
            counts.unlinked += 1
            message = "unlinked: no MCDE document for its SKU or ASIN any more"
        else:
            action = "relinked" if case.mcde_doc_id else "linked"
            if action == "relinked":
                counts.relinked += 1
            else:
                counts.linked += 1
            message = f"{action} to MCDE document {decision.document.document_id}: "
            message += decision.reason
        data: dict[str, Any] = {
            "document": decision.audit() if decision else None,
            "previousDocumentId": previous.document_id if previous else case.mcde_doc_id,
        }
        if status != case.case_status:
            data["status"] = {"from": case.case_status, "to": status}
        entry = _audit(now, actor, sync_id, action, message, **data)
        updates.append(
            {
                "id": case.id,
                "mcde_doc_id": document_id,
                "case_status": status,
                "audit_log": [*case.audit_log, entry],
            }
        )
        events.append(_event(user_id, sync_id, case.id, STAGE_LINK, entry))
    await repository.update_cases(session, updates)
    await repository.add_events(session, events)
