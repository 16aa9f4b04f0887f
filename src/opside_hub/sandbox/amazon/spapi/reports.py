"""Reports API 2021-06-30 of the sandbox: report records, their lifecycle, their documents.

A report is a small JSON record in Redis (every API process serves every report); its status is
a function of the clock, not of a worker: `IN_QUEUE` for the first half of
`SANDBOX_REPORT_DELAY_SECONDS`, `IN_PROGRESS` for the second, then `DONE` — or `CANCELLED` when
the window holds no data for the seller, as Amazon does (no document), or when `cancelReport`
caught it in the queue. The delay in force at creation is stored with the report.

The document is never stored. `getReportDocument` answers a URL signed like an S3 pre-signed
URL (`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-Signature`, HMAC-SHA256 under a key kept in Redis),
valid `SANDBOX_DOCUMENT_URL_TTL_SECONDS`; past that the URL answers S3's 403 `AccessDenied`
"Request has expired" XML. A valid URL streams the rows from the generator through gzip, a chunk
at a time (a sync generator: Starlette runs it in a worker thread, off the event loop), so a
report of millions of rows never exists whole in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import iterate_in_threadpool

from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.data import DataSizes, SellerData, iso, served_window

RETENTION = timedelta(days=90)  # getReports: "Reports are retained for a maximum of 90 days."
REPORT_ID_BASE = 50_000_000_000
DOCUMENT_PATH = "/sandbox/amazon/_documents"
CHUNK_BYTES = 64 * 1024
AMZ_DATE = "%Y%m%dT%H%M%SZ"


def _key(runtime: Runtime, *parts: str) -> str:
    return runtime.redis_server.key("sandbox", "amazon", *parts)


@dataclass
class ReportRecord:
    report_id: str
    seller_id: str
    report_type: str
    marketplace_ids: list[str]
    data_start: float  # the window asked for (epoch seconds)
    data_end: float
    served_start: float  # the part of it Amazon has data for
    served_end: float
    created: float
    ready: float  # when processing ends
    has_data: bool
    document_id: str
    cancelled: float | None = None

    def status(self, now: float) -> str:
        if self.cancelled is not None:
            return "CANCELLED"
        if now < self.created + (self.ready - self.created) / 2:
            return "IN_QUEUE"
        if now < self.ready:
            return "IN_PROGRESS"
        return "DONE" if self.has_data else "CANCELLED"

    def to_json(self, now: float) -> dict[str, Any]:
        """The model's `Report`."""
        status = self.status(now)
        body: dict[str, Any] = {
            "reportId": self.report_id,
            "reportType": self.report_type,
            "dataStartTime": iso(_at(self.data_start)),
            "dataEndTime": iso(_at(self.data_end)),
            "marketplaceIds": self.marketplace_ids,
            "createdTime": iso(_at(self.created)),
            "processingStatus": status,
        }
        if status != "IN_QUEUE" and self.cancelled is None:
            body["processingStartTime"] = iso(_at(self.created + (self.ready - self.created) / 2))
        if status in ("DONE", "CANCELLED"):
            body["processingEndTime"] = iso(_at(self.cancelled or self.ready))
        if status == "DONE":
            body["reportDocumentId"] = self.document_id
        return body

    def rows_window(self) -> tuple[datetime, datetime]:
        return _at(self.served_start), _at(self.served_end)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def create_report(
    runtime: Runtime,
    seller_id: str,
    report_type: str,
    marketplace_ids: list[str],
    start: datetime,
    end: datetime,
    sizes: DataSizes,
) -> ReportRecord:
    now = datetime.now(UTC)
    served_start, served_end = served_window(start, end, now)
    has_data = served_start < served_end and SellerData(seller_id, sizes).report_has_rows(
        report_type, served_start, served_end
    )
    number = await runtime.redis.incr(_key(runtime, "report-seq"))
    created = now.timestamp()
    record = ReportRecord(
        report_id=str(REPORT_ID_BASE + number),
        seller_id=seller_id,
        report_type=report_type,
        marketplace_ids=marketplace_ids,
        data_start=start.timestamp(),
        data_end=end.timestamp(),
        served_start=served_start.timestamp(),
        served_end=max(served_start, served_end).timestamp(),
        created=created,
        ready=created + runtime.settings.sandbox_report_delay_seconds,
        has_data=has_data,
        document_id=f"amzn1.spdoc.1.4.na.{uuid.uuid4()}",
    )
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.set(
            _key(runtime, "report", record.report_id), json.dumps(asdict(record)), ex=RETENTION
        )
        pipe.set(_key(runtime, "document", record.document_id), record.report_id, ex=RETENTION)
        pipe.zadd(_key(runtime, "reports", seller_id), {record.report_id: created})
        pipe.zremrangebyscore(
            _key(runtime, "reports", seller_id), "-inf", created - RETENTION.total_seconds()
        )
        pipe.expire(_key(runtime, "reports", seller_id), RETENTION)
        await pipe.execute()
    return record


async def load_report(runtime: Runtime, report_id: str) -> ReportRecord | None:
    raw = await runtime.redis.get(_key(runtime, "report", report_id))
    return ReportRecord(**json.loads(raw)) if raw is not None else None


async def save_report(runtime: Runtime, record: ReportRecord) -> None:
    await runtime.redis.set(
        _key(runtime, "report", record.report_id), json.dumps(asdict(record)), keepttl=True
    )


async def seller_reports(
    runtime: Runtime, seller_id: str, created_since: float, created_until: float
) -> list[ReportRecord]:
    """The seller's reports created in `[since, until]`, newest first."""
    ids = await runtime.redis.zrevrangebyscore(
        _key(runtime, "reports", seller_id), created_until, created_since
    )
    records = [await load_report(runtime, _text(str_or_bytes(item))) for item in ids]
    return [record for record in records if record is not None]


async def report_of_document(runtime: Runtime, document_id: str) -> ReportRecord | None:
    report_id = await runtime.redis.get(_key(runtime, "document", document_id))
    return await load_report(runtime, _text(report_id)) if report_id is not None else None


# -- pre-signed document URLs ----------------------------------------------------------------


async def _signing_key(runtime: Runtime) -> bytes:
    key = _key(runtime, "document-signing-key")
    await runtime.redis.set(key, secrets.token_hex(32), nx=True)
    value = await runtime.redis.get(key)
    return _text(value).encode()


def _signature(key: bytes, document_id: str, amz_date: str, expires: str, encoding: str) -> str:
    message = "\n".join(("GET", document_id, amz_date, expires, encoding)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


async def presigned_url(runtime: Runtime, document_id: str, *, gzip_encoding: bool) -> str:
    amz_date = datetime.now(UTC).strftime(AMZ_DATE)
    expires = str(runtime.settings.sandbox_document_url_ttl_seconds)
    encoding = "gzip" if gzip_encoding else ""
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": expires,
        "X-Amz-SignedHeaders": "host",
    }
    if encoding:
        params["response-content-encoding"] = encoding
    params["X-Amz-Signature"] = _signature(
        await _signing_key(runtime), document_id, amz_date, expires, encoding
    )
    return f"{runtime.settings.base_url}{DOCUMENT_PATH}/{document_id}?{urlencode(params)}"


@dataclass(frozen=True)
class UrlCheck:
    """Why a pre-signed URL is refused (`code` None: it is good)."""

    code: str | None
    message: str = ""
    expires_at: datetime | None = None
    lifetime: str = ""


async def check_url(runtime: Runtime, document_id: str, query: dict[str, str]) -> UrlCheck:
    amz_date, expires = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
    encoding = query.get("response-content-encoding", "")
    signature = query.get("X-Amz-Signature", "")
    expected = _signature(await _signing_key(runtime), document_id, amz_date, expires, encoding)
    if not signature or not hmac.compare_digest(signature, expected):
        return UrlCheck(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC)
    expires_at = signed_at + timedelta(seconds=int(expires))
    if datetime.now(UTC) >= expires_at:
        return UrlCheck("AccessDenied", "Request has expired", expires_at, expires)
    return UrlCheck(None)


def s3_error(code: str, message: str, extra: dict[str, str] | None = None) -> str:
    """S3's XML error document."""
    fields = {"Code": code, "Message": message, **(extra or {})}
    fields["RequestId"] = secrets.token_hex(8).upper()
    fields["HostId"] = secrets.token_urlsafe(48)
    body = "".join(f"<{name}>{_xml(value)}</{name}>" for name, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>'


def expired_extra(check: UrlCheck) -> dict[str, str]:
    assert check.expires_at is not None
    return {
        "X-Amz-Expires": check.lifetime,
        "Expires": check.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ServerTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _xml(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


# -- document bytes --------------------------------------------------------------------------


def document_lines(record: ReportRecord, sizes: DataSizes) -> Iterator[str]:
    start, end = record.rows_window()
    return SellerData(record.seller_id, sizes).report_lines(record.report_type, start, end)


def gzip_chunks(lines: Iterable[str], *, truncate: bool = False) -> Iterator[bytes]:
    """Lines → a gzip member, one compressed chunk per ~`CHUNK_BYTES` of text.

    `truncate` cuts the member short like a dropped download: after the first chunk (or at the
    end of a small document) it stops without the final block and the gzip trailer.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    pending: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8")
        pending.append(data)
        size += len(data)
        if size >= CHUNK_BYTES:
            chunk = compressor.compress(b"".join(pending)) + compressor.flush(zlib.Z_SYNC_FLUSH)
            pending, size = [], 0
            yield chunk
            if truncate:
                return
    tail = compressor.compress(b"".join(pending))
    if truncate:
        yield tail + compressor.flush(zlib.Z_SYNC_FLUSH)
        return
    yield tail + compressor.flush()


async def trickle(chunks: Iterator[bytes], pause: float) -> AsyncIterator[bytes]:
    """`chunks` over a slow link: each waits `pause` seconds (compressed off the event loop,
    as Starlette does for a sync iterator)."""
    async for chunk in iterate_in_threadpool(chunks):
        await asyncio.sleep(pause)
        yield chunk


def str_or_bytes(item: object) -> bytes | str:
    # zrevrangebyscore is typed for its `withscores` form too; without it, members come back.
    assert isinstance(item, bytes | str)
    return item


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
