"""Routes of the sandbox Selling Partner API, at SP-API's own paths under `/sandbox/amazon`.

Parameters are read from the request by hand, not declared to FastAPI: a bad value must be
answered the way SP-API answers it (`{"errors": [{"code": "InvalidInput", ...}]}`), never in
this API's envelope.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from opside_hub.api.deps import RuntimeDep
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.data import (
    MARKETPLACES,
    REPORT_TYPES,
    DataSizes,
    SellerData,
)
from opside_hub.sandbox.amazon.spapi import reports, service
from opside_hub.sandbox.amazon.spapi.guard import (
    DOWNLOAD_FAULTS,
    Call,
    SpApiError,
    admit,
    invalid_input,
    not_found,
    pick_fault,
)
from opside_hub.sandbox.routing import SandboxRoute

router = APIRouter(route_class=SandboxRoute)
REPORTS = "/reports/2021-06-30"
MAX_REPORT_TYPES = 10
MAX_MARKETPLACES = 25
DEFAULT_REPORT_SPAN = timedelta(days=30)
GET_REPORTS_DEFAULT_SINCE = timedelta(days=90)


def _data(call: Call) -> SellerData:
    return SellerData(call.seller_id, DataSizes.from_settings(call.runtime.settings))


def _now() -> datetime:
    return datetime.now(UTC)


# -- Sellers ---------------------------------------------------------------------------------


@router.get("/sellers/v1/marketplaceParticipations")
async def get_marketplace_participations(request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "getMarketplaceParticipations")
    store = call.grant.attributes.get("seller_name")
    return call.json({"payload": _data(call).participations(store)})


# -- Reports 2021-06-30 ----------------------------------------------------------------------


async def _json_body(request: Request, call: Call) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise call.fail(invalid_input("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise call.fail(invalid_input("The request body must be a JSON object."))
    return body


def _marketplaces(call: Call, values: object) -> list[str]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise call.fail(invalid_input("marketplaceIds must be a non-empty list of strings."))
    if len(values) > MAX_MARKETPLACES:
        raise call.fail(invalid_input(f"marketplaceIds accepts at most {MAX_MARKETPLACES}."))
    own = {marketplace.id for marketplace in _data(call).marketplaces()}
    for marketplace_id in values:
        if marketplace_id not in MARKETPLACES:
            raise call.fail(invalid_input(f"Invalid marketplaceId: {marketplace_id[:32]}"))
        if marketplace_id not in own:
            raise call.fail(
                invalid_input(
                    f"The seller is not registered in marketplace {marketplace_id}.",
                )
            )
    return list(values)


@router.post(f"{REPORTS}/reports")
async def create_report(request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "createReport")
    body = await _json_body(request, call)
    report_type = body.get("reportType")
    if not isinstance(report_type, str) or not report_type:
        raise call.fail(invalid_input("reportType is required."))
    if report_type not in REPORT_TYPES:
        raise call.fail(
            invalid_input(
                f"Invalid report type {report_type[:80]}",
                "The sandbox serves GET_FBA_REIMBURSEMENTS_DATA and GET_LEDGER_DETAIL_VIEW_DATA.",
            )
        )
    marketplace_ids = _marketplaces(call, body.get("marketplaceIds"))
    now = _now()
    try:
        end = _body_time(body, "dataEndTime") or now
        start = _body_time(body, "dataStartTime") or end - DEFAULT_REPORT_SPAN
    except SpApiError as exc:
        raise call.fail(exc) from None
    if start >= end:
        raise call.fail(invalid_input("dataStartTime must be before dataEndTime."))
    if start > now:
        raise call.fail(invalid_input("dataStartTime must not be in the future."))
    record = await reports.create_report(
        runtime,
        call.seller_id,
        report_type,
        marketplace_ids,
        start,
        end,
        DataSizes.from_settings(runtime.settings),
    )
    return call.json({"reportId": record.report_id}, status_code=202)


def _body_time(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_input(f"{name} must be an ISO 8601 date-time string.")
    return service.parse_time(value, name)


@router.get(f"{REPORTS}/reports")
async def get_reports(request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "getReports")
    params = request.query_params
    try:
        if token := params.get("nextToken"):
            if len(params) > 1:
                raise invalid_input(
                    "Invalid input", "Specifying nextToken with any other parameters fails."
                )
            state = service.decode_token(token, "nextToken")
        else:
            state = _report_filters(params)
    except SpApiError as exc:
        raise call.fail(exc) from None
    records = await reports.seller_reports(runtime, call.seller_id, state["since"], state["until"])
    now = _now().timestamp()
    matching = [
        record
        for record in records
        if record.report_type in state["types"]
        and (not state["statuses"] or record.status(now) in state["statuses"])
        and (
            not state["marketplaces"]
            or not set(state["marketplaces"]).isdisjoint(record.marketplace_ids)
        )
    ]
    offset, size = state.get("offset", 0), state["size"]
    body: dict[str, Any] = {"reports": [r.to_json(now) for r in matching[offset : offset + size]]}
    if offset + size < len(matching):
        body["nextToken"] = service.encode_token({**state, "offset": offset + size})
    return call.json(body)


def _report_filters(params: Any) -> dict[str, Any]:
    types = service.csv_list(params, "reportTypes")
    if not types:
        raise invalid_input("Invalid input", "Either reportTypes or nextToken is required.")
    if len(types) > MAX_REPORT_TYPES:
        raise invalid_input("Invalid input", f"reportTypes accepts at most {MAX_REPORT_TYPES}.")
    statuses = service.csv_list(params, "processingStatuses")
    known = {"CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"}
    if any(status not in known for status in statuses):
        raise invalid_input("Invalid input", "Invalid input in processing status")
    marketplaces = service.csv_list(params, "marketplaceIds")
    if len(marketplaces) > MAX_REPORT_TYPES:
        raise invalid_input("Invalid input", "marketplaceIds accepts at most 10.")
    now = _now()
    since = service.optional_time(params, "createdSince") or now - GET_REPORTS_DEFAULT_SINCE
    until = service.optional_time(params, "createdUntil") or now
    return {
        "types": types,
        "statuses": statuses,
        "marketplaces": marketplaces,
        "size": service.integer(params, "pageSize", 10, 1, 100),
        "since": since.timestamp(),
        "until": until.timestamp(),
    }


async def _own_report(call: Call, report_id: str) -> reports.ReportRecord:
    if not report_id.isdigit():
        raise call.fail(invalid_input("Invalid input", f"Invalid reportId: {report_id[:32]}"))
    record = await reports.load_report(call.runtime, report_id)
    if record is None or record.seller_id != call.seller_id:
        raise call.fail(not_found(f"The report {report_id} does not exist."))
    return record


@router.get(REPORTS + "/reports/{report_id}")
async def get_report(report_id: str, request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "getReport")
    record = await _own_report(call, report_id)
    return call.json(record.to_json(_now().timestamp()))


@router.delete(REPORTS + "/reports/{report_id}")
async def cancel_report(report_id: str, request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "cancelReport")
    record = await _own_report(call, report_id)
    now = _now().timestamp()
    if record.status(now) != "IN_QUEUE":
        raise call.fail(
            invalid_input(
                "Invalid input",
                f"Only reports with processingStatus IN_QUEUE can be cancelled; this one is "
                f"{record.status(now)}.",
            )
        )
    record.cancelled = now
    await reports.save_report(runtime, record)
    return call.empty()


@router.get(REPORTS + "/documents/{document_id}")
async def get_report_document(document_id: str, request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "getReportDocument")
    record = await reports.report_of_document(runtime, document_id)
    if (
        record is None
        or record.seller_id != call.seller_id
        or record.status(_now().timestamp()) != "DONE"
    ):
        raise call.fail(not_found(f"The report document {document_id} does not exist."))
    gzip_encoding = request.query_params.get("enableContentEncodingUrlHeader", "") == "true"
    url = await reports.presigned_url(runtime, document_id, gzip_encoding=gzip_encoding)
    return call.json({"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"})


# -- the pre-signed document URL (S3's side) -------------------------------------------------


def _s3_error(status_code: int, code: str, message: str, **extra: str) -> Response:
    return Response(
        reports.s3_error(code, message, extra),
        status_code=status_code,
        media_type="application/xml",
    )


@router.get("/_documents/{document_id}")
async def download_document(document_id: str, request: Request, runtime: RuntimeDep) -> Response:
    query = dict(request.query_params)
    try:
        check = await reports.check_url(runtime, document_id, query)
    except (ValueError, KeyError):
        check = reports.UrlCheck("AuthorizationQueryParametersError", "Malformed query.")
    if check.code == "AccessDenied":
        return _s3_error(403, check.code, check.message, **reports.expired_extra(check))
    if check.code is not None:
        return _s3_error(403, check.code, check.message)
    record = await reports.report_of_document(runtime, document_id)
    if record is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=document_id)
    fault = await pick_fault(runtime, f"{record.seller_id}:download", DOWNLOAD_FAULTS)
    if fault == "500":
        return _s3_error(
            500, "InternalError", "We encountered an internal error. Please try again."
        )
    if fault == "503":
        return _s3_error(503, "SlowDown", "Please reduce your request rate.")
    if fault == "timeout":
        await asyncio.sleep(runtime.settings.sandbox_fault_hang_seconds)
    # `slow`: a download that outlives its URL. The status and headers leave at once, then each
    # chunk of the body waits the hang. S3 checks a pre-signed URL when the request arrives, not
    # while it streams, so a patient client gets the whole document; one whose read timeout is
    # shorter drops it, and by the time it retries (with hang > SANDBOX_DOCUMENT_URL_TTL_SECONDS)
    # the URL has expired: only a fresh one from getReportDocument downloads it.
    pause = runtime.settings.sandbox_fault_hang_seconds if fault == "slow" else 0.0
    return _document_response(runtime, record, query, truncate=fault == "truncate", pause=pause)


def _document_response(
    runtime: Runtime,
    record: reports.ReportRecord,
    query: dict[str, str],
    *,
    truncate: bool,
    pause: float = 0.0,
) -> Response:
    headers = {
        "Last-Modified": reports.http_date(datetime.fromtimestamp(record.ready, UTC)),
        "x-amz-request-id": secrets.token_hex(8).upper(),
    }
    if query.get("response-content-encoding") == "gzip":
        headers["Content-Encoding"] = "gzip"
    lines = reports.document_lines(record, DataSizes.from_settings(runtime.settings))
    chunks = reports.gzip_chunks(lines, truncate=truncate)
    return StreamingResponse(
        reports.trickle(chunks, pause) if pause > 0 else chunks,
        media_type="text/plain; charset=UTF-8",
        headers=headers,
    )


# -- Finances v0 -----------------------------------------------------------------------------


@router.get("/finances/v0/financialEvents")
async def list_financial_events(request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "listFinancialEvents")
    try:
        body = service.list_financial_events(_data(call), request.query_params, _now())
    except SpApiError as exc:
        raise call.fail(exc) from None
    return call.json(body)


# -- FBA Inventory v1 ------------------------------------------------------------------------


@router.get("/fba/inventory/v1/summaries")
async def get_inventory_summaries(request: Request, runtime: RuntimeDep) -> Response:
    call = await admit(request, runtime, "getInventorySummaries")
    try:
        body = service.inventory_summaries(_data(call), request.query_params, _now())
    except SpApiError as exc:
        raise call.fail(exc) from None
    return call.json(body)
