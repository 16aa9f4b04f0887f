"""Reports API 2021-06-30: request a report once, poll it, download and ingest it streaming.

The life of a report is kept in `amazon_report_requests`, committed at every step, so a worker
that dies anywhere resumes the same report:
- no `report_id` yet: before creating one, `getReports` is asked whether a report for exactly
  this window was created already (the process may have died right after `createReport`);
- `IN_QUEUE`/`IN_PROGRESS`: poll `getReport` with backoff;
- `DONE`: `getReportDocument` gives a pre-signed URL valid for minutes; the document is
  downloaded, gunzipped, parsed and upserted in batches as it streams — memory does not grow with
  the report. A cut download (truncated gzip, dropped connection, expired URL) is started again
  with a fresh URL; upserts are idempotent, so rows already written are not duplicated;
- `CANCELLED`: Amazon had no data for the window — not an error;
- `FATAL`: an error carrying the document's reason when Amazon gives one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from sqlalchemy import select

from opside_hub.core.exceptions import ProviderError
from opside_hub.core.logging import get_logger
from opside_hub.db.base import Base, new_id
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import AmazonReportRequest, QuarantinedRow
from opside_hub.db.session import transaction
from opside_hub.db.types import utcnow
from opside_hub.db.upsert import insert
from opside_hub.observability.metrics import record_provider_call
from opside_hub.providers.amazon.client import SpApiClient
from opside_hub.providers.amazon.parsing import (
    Record,
    RowError,
    TruncatedDocument,
    decompressed_lines,
    records,
)
from opside_hub.providers.amazon.schemas import ReportDocument
from opside_hub.runtime import Runtime

log = get_logger(__name__)

TERMINAL = frozenset({"DONE", "CANCELLED", "FATAL"})
POLL_START_S = 2.0
POLL_CAP_S = 30.0
POLL_TIMEOUT = timedelta(hours=2)
DOWNLOAD_ATTEMPTS = 4
BATCH_ROWS = 2000
# The pre-signed S3 GET of a report document, named for metrics like the SP-API operations.
DOWNLOAD_OPERATION = "downloadReportDocument"

RowBuilder = Callable[[Record], dict[str, Any]]
Progress = Callable[[int], Awaitable[None]]


class ReportFailed(ProviderError):
    code = "amazon_report_failed"
    message = "Amazon could not produce the report."


@dataclass(frozen=True)
class ReportWindow:
    report_type: str
    start: datetime
    end: datetime
    marketplace_ids: tuple[str, ...]


@dataclass
class IngestResult:
    report_id: str | None
    status: str
    rows_written: int = 0
    rows_read: int = 0
    rows_quarantined: int = 0


async def run_report(
    runtime: Runtime,
    client: SpApiClient,
    user_id: str,
    window: ReportWindow,
    model: type[Base],
    build_row: Callable[[], RowBuilder],
    *,
    progress: Progress | None = None,
) -> IngestResult:
    """Bring one report window into `model`'s table, resuming wherever a previous run stopped."""
    request = await _request_row(runtime, user_id, window)
    if request.processing_status == "DONE" and request.completed_at is not None:
        return IngestResult(request.report_id, "DONE")  # ingested by an earlier run
    if request.report_id is None:
        await _create_report(runtime, client, request, window)
    await _wait_until_terminal(runtime, client, request)
    if request.processing_status == "CANCELLED":
        await _finish(runtime, request)
        return IngestResult(request.report_id, "CANCELLED")
    if request.processing_status == "FATAL":
        reason = await _fatal_reason(client, request)
        await _update(runtime, request, error=reason)
        raise ReportFailed(
            f"{window.report_type} failed at Amazon: {reason}",
            details={"reportId": request.report_id, "reason": reason},
        )
    result = await _download_and_ingest(
        runtime, client, user_id, request, model, build_row, progress
    )
    await _finish(runtime, request, rows=result.rows_written, quarantined=result.rows_quarantined)
    return result


async def _request_row(runtime: Runtime, user_id: str, window: ReportWindow) -> AmazonReportRequest:
    async with transaction(runtime.sessions) as session:
        statement = insert(session, AmazonReportRequest).values(
            id=new_id(),
            user_id=user_id,
            report_type=window.report_type,
            data_start_time=window.start,
            data_end_time=window.end,
            processing_status="NEW",
            created_at=utcnow(),
            updated_at=utcnow(),
            rows_ingested=0,
            rows_quarantined=0,
        )
        await session.execute(
            statement.on_conflict_do_nothing(
                index_elements=["user_id", "report_type", "data_start_time", "data_end_time"]
            )
        )
        return (
            await session.execute(
                select(AmazonReportRequest).where(
                    AmazonReportRequest.user_id == user_id,
                    AmazonReportRequest.report_type == window.report_type,
                    AmazonReportRequest.data_start_time == window.start,
                    AmazonReportRequest.data_end_time == window.end,
                )
            )
        ).scalar_one()


async def _create_report(
    runtime: Runtime, client: SpApiClient, request: AmazonReportRequest, window: ReportWindow
) -> None:
    # CREATING without a report id: an earlier run died around createReport.
    report_id = None
    if request.processing_status == "CREATING":
        report_id = await _find_created_report(client, request, window)
    if report_id is None:
        await _update(runtime, request, processing_status="CREATING")
        report_id = await client.create_report(
            window.report_type, window.start, window.end, window.marketplace_ids
        )
        log.info("amazon.report.created", report_type=window.report_type, report_id=report_id)
    await _update(runtime, request, report_id=report_id, processing_status="IN_QUEUE")


async def _find_created_report(
    client: SpApiClient, request: AmazonReportRequest, window: ReportWindow
) -> str | None:
    """A process that died right after createReport left no reportId behind: look for it."""
    listing = await client.get_reports(
        [window.report_type], request.created_at - timedelta(minutes=1), window.marketplace_ids
    )
    for report in listing.reports:
        if (
            report.dataStartTime == window.start
            and report.dataEndTime == window.end
            and report.processingStatus != "CANCELLED"
        ):
            log.info("amazon.report.recovered", report_id=report.reportId)
            return report.reportId
    return None


async def _wait_until_terminal(
    runtime: Runtime, client: SpApiClient, request: AmazonReportRequest
) -> None:
    delay = POLL_START_S
    deadline = utcnow() + POLL_TIMEOUT
    while request.processing_status not in TERMINAL:
        report = await client.get_report(request.report_id or "")
        status = report.processingStatus
        await _update(
            runtime, request, processing_status=status, report_document_id=report.reportDocumentId
        )
        if status in TERMINAL:
            return
        if utcnow() > deadline:
            raise ReportFailed(f"report {request.report_id} still {status} after {POLL_TIMEOUT}")
        await asyncio.sleep(delay)
        delay = min(POLL_CAP_S, delay * 1.5)


async def _fatal_reason(client: SpApiClient, request: AmazonReportRequest) -> str:
    """A FATAL report may carry a document explaining why; read a little of it."""
    if not request.report_document_id:
        return "FATAL (no reason given)"
    try:
        document = await client.get_report_document(request.report_document_id)
        response = await client.runtime.http.get(document.url)
        text = response.text[:500].strip()
    except (httpx2.HTTPError, ProviderError, KeyError, ValueError) as exc:
        return f"FATAL (reason unavailable: {type(exc).__name__})"
    return text or "FATAL (empty reason document)"


async def _download_and_ingest(
    runtime: Runtime,
    client: SpApiClient,
    user_id: str,
    request: AmazonReportRequest,
    model: type[Base],
    build_row: Callable[[], RowBuilder],
    progress: Progress | None,
) -> IngestResult:
    assert request.report_document_id is not None
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        document = await client.get_report_document(request.report_document_id)
        try:
            return await ingest_document(
                runtime,
                user_id,
                request.report_id or "",
                document,
                model,
                build_row(),
                progress=progress,
            )
        except (TruncatedDocument, httpx2.TransportError, _DownloadRefused) as exc:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise ReportFailed(
                    f"report {request.report_id} could not be downloaded",
                    details={"error": type(exc).__name__},
                ) from exc
            log.warning(
                "amazon.report.download_retry",
                report_id=request.report_id,
                attempt=attempt,
                error_type=type(exc).__name__,
            )
            await asyncio.sleep(min(30.0, 2.0**attempt))
    raise AssertionError("unreachable")


class _DownloadRefused(Exception):
    """The pre-signed URL answered an error (expired, 5xx): fetch a new URL and start again."""


async def ingest_document(
    runtime: Runtime,
    user_id: str,
    report_id: str,
    document: ReportDocument,
    model: type[Base],
    build_row: RowBuilder,
    *,
    progress: Progress | None = None,
) -> IngestResult:
    """Stream one report document into `model`, `BATCH_ROWS` rows per transaction."""
    result = IngestResult(report_id, "DONE")
    gzip = document.compressionAlgorithm == "GZIP"
    async with _download(runtime, document.url) as response:
        if response.is_error:
            raise _DownloadRefused(f"HTTP {response.status_code}")
        encoding = response.charset_encoding or "utf-8"
        batch: list[dict[str, Any]] = []
        quarantine: list[RowError] = []
        async for item in records(
            decompressed_lines(_chunks(response), gzip=gzip, encoding=encoding)
        ):
            if isinstance(item, RowError):
                quarantine.append(item)
                continue
            result.rows_read += 1
            try:
                batch.append(build_row(item))
            except RowError as exc:
                content = "\t".join(item.fields.values())
                quarantine.append(RowError(exc.reason, line=item.line, content=content))
            if len(batch) >= BATCH_ROWS:
                await _write(runtime, user_id, report_id, model, batch, quarantine, result)
                batch, quarantine = [], []
                if progress:
                    await progress(result.rows_read)
        await _write(runtime, user_id, report_id, model, batch, quarantine, result)
    if progress:
        await progress(result.rows_read)
    return result


@asynccontextmanager
async def _download(runtime: Runtime, url: str) -> AsyncIterator[httpx2.Response]:
    """Open the document's stream, recorded as one provider call: its status is known once the
    headers arrive (a body that then breaks off is the parser's `TruncatedDocument`)."""
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        try:
            response = await stack.enter_async_context(runtime.http.stream("GET", url))
        except httpx2.TimeoutException:
            record_provider_call("amazon", DOWNLOAD_OPERATION, "timeout", started)
            raise
        except httpx2.TransportError:
            record_provider_call("amazon", DOWNLOAD_OPERATION, "error", started)
            raise
        record_provider_call("amazon", DOWNLOAD_OPERATION, str(response.status_code), started)
        yield response


async def _chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_raw():
        yield chunk


async def _write(
    runtime: Runtime,
    user_id: str,
    report_id: str,
    model: type[Base],
    batch: list[dict[str, Any]],
    quarantine: list[RowError],
    result: IngestResult,
) -> None:
    if not batch and not quarantine:
        return
    async with transaction(runtime.sessions) as session:
        result.rows_written += await upsert_rows(session, model, user_id, batch)
        if quarantine:
            statement = insert(session, QuarantinedRow).values(
                [
                    {
                        "user_id": user_id,
                        "source": f"report:{report_id}",
                        "line": error.line,
                        "reason": error.reason[:512],
                        "content": error.content[:4000],
                        "created_at": utcnow(),
                    }
                    for error in quarantine
                ]
            )
            await session.execute(
                statement.on_conflict_do_nothing(index_elements=["user_id", "source", "line"])
            )
            result.rows_quarantined += len(quarantine)
    for error in quarantine:
        log.warning(
            "amazon.report.row_quarantined",
            report_id=report_id,
            line=error.line,
            reason=error.reason,
        )


async def _update(runtime: Runtime, request: AmazonReportRequest, **values: Any) -> None:
    async with transaction(runtime.sessions) as session:
        row = await session.get(AmazonReportRequest, request.id)
        assert row is not None
        for key, value in values.items():
            if value is not None:
                setattr(row, key, value)
                setattr(request, key, value)
        row.updated_at = utcnow()
        request.updated_at = row.updated_at


async def _finish(
    runtime: Runtime, request: AmazonReportRequest, *, rows: int = 0, quarantined: int = 0
) -> None:
    await _update(
        runtime, request, completed_at=utcnow(), rows_ingested=rows, rows_quarantined=quarantined
    )
