"""Amazon's flat-file reports, parsed by header name, a record at a time.

Reports are tab-separated with a header row; Amazon adds and reorders columns over time, so
nothing here depends on positions. Headers are normalized (`Event Type` → `event-type`, BOM and
case removed). A record that cannot be read becomes a `RowError` with its line number — the
caller quarantines it and carries on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    **dict.fromkeys(("JPY", "KRW", "CLP", "VND", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3),
}


class RowError(ValueError):
    """A record that cannot be turned into a row; the message is the quarantine reason."""

    def __init__(self, reason: str, *, line: int = 0, content: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.content = content


class TruncatedDocument(Exception):
    """The gzip stream ended before its end marker: the download was cut short."""


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def parse_money(text: str | None, currency: str, *, field: str) -> int:
    """'12.34' USD → 1234; '-5' JPY → -5. Empty → 0. More precision than the currency has is an
    error, not a silent rounding."""
    value = (text or "").strip().replace(",", "")
    if not value:
        return 0
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise RowError(f"{field}: not a number: {value[:40]!r}") from exc
    minor = amount.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise RowError(f"{field}: {value!r} has more decimals than {currency} allows")
    return int(minor)


def parse_int(text: str | None, *, field: str) -> int:
    value = (text or "").strip().replace(",", "")
    if not value:
        return 0
    try:
        return int(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise RowError(f"{field}: not an integer: {value[:40]!r}") from exc


_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S")


def parse_timestamp(text: str | None, *, field: str) -> datetime | None:
    """ISO 8601 with or without offset (no offset = UTC), or the report's date-only formats."""
    value = (text or "").strip()
    if not value:
        return None
    candidate = value.replace("Z", "+00:00").replace(" UTC", "+00:00").replace(" PST", "-08:00")
    candidate = candidate.replace(" PDT", "-07:00")
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)  # noqa: DTZ007 - UTC is applied below
                break
            except ValueError:
                continue
        else:
            raise RowError(f"{field}: not a date: {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def normalize_header(name: str) -> str:
    return "-".join(name.replace("\ufeff", "").strip().lower().replace("_", " ").split())


def stable_key(*parts: object) -> str:
    """A compact natural key from provider fields (for rows Amazon gives no id)."""
    joined = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Record:
    line: int
    fields: dict[str, str]

    def get(self, name: str) -> str:
        """The field's value, already stripped; "" when the column is absent."""
        return self.fields.get(name, "")


async def decompressed_lines(
    chunks: AsyncIterator[bytes], *, gzip: bool, encoding: str = "utf-8"
) -> AsyncIterator[str]:
    """Bytes → text lines, streaming: gunzip (when asked), decode, split; never the whole file.

    A UTF-8 BOM is dropped; CRLF and LF both end lines. A gzip stream without its end marker
    raises `TruncatedDocument`.
    """
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    pending = ""
    async for chunk in chunks:
        data = inflater.decompress(chunk) if inflater else chunk
        pending += decoder.decode(data)
        if "\n" in pending:
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line.removesuffix("\r")
    if inflater is not None:
        pending += decoder.decode(inflater.flush())
        if not inflater.eof:
            raise TruncatedDocument("gzip stream ended early")
    pending += decoder.decode(b"", final=True)
    if pending.strip():
        yield pending.removesuffix("\r")


async def records(lines: AsyncIterator[str]) -> AsyncIterator[Record | RowError]:
    """Tab-separated lines → records keyed by normalized header, or a `RowError` per bad line.

    Quoted fields may hold tabs and even newlines: lines are joined while a quoted field is
    open, then the csv module reads the record. Only a field that *starts* with `"` is quoted;
    Amazon writes fields unquoted, so a `"` inside one (`Steel Ruler 12" (2-Pack)`) is text.
    """
    header: list[str] | None = None
    physical = 0
    buffered: list[str] = []
    start = 0
    async for line in lines:
        physical += 1
        if not buffered:
            start = physical
        buffered.append(line)
        if _quote_open("\n".join(buffered)):
            continue  # inside a quoted field that spans lines
        text, buffered = "\n".join(buffered), []
        if not text.strip():
            continue
        try:
            fields = _split(text)
        except csv.Error as exc:
            yield RowError(f"unreadable record: {exc}", line=start, content=text)
            continue
        if header is None:
            header = [normalize_header(name) for name in fields]
            continue
        if len(fields) > len(header) and any(value.strip() for value in fields[len(header) :]):
            yield RowError(
                f"{len(fields)} fields for {len(header)} columns", line=start, content=text
            )
            continue
        yield Record(start, dict(zip(header, (value.strip() for value in fields), strict=False)))
    if buffered:
        yield RowError("unterminated quoted field", line=start, content="\n".join(buffered))


def _quote_open(text: str) -> bool:
    """Whether `text` ends inside a quoted field (one that began with `"` right after a tab or
    at the start; `""` inside it is an escaped quote)."""
    if '"' not in text:
        return False  # the common case, at C speed
    quoted = False
    at_field_start = True
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"':
                if text.startswith('"', index + 1):
                    index += 1  # "" is a literal quote
                else:
                    quoted = False
        elif char == '"' and at_field_start:
            quoted = True
        at_field_start = not quoted and char in "\t\n"
        index += 1
    return quoted


def _split(text: str) -> list[str]:
    return next(csv.reader([text], delimiter="\t", quotechar='"', strict=False))
