"""Real files for the sandbox mailboxes' attachments, made in code: PDF, PNG, CSV and XLSX.

Each builder is a pure function of its input, so an attachment has the same bytes (and
SHA-256) on every fetch, process and run. The files are small but genuine: a PDF reader opens
the invoice (one page, Helvetica, a cross-reference table with exact offsets), the PNG has
valid CRCs, the XLSX is an Office Open XML workbook with inline strings.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class LineItem:
    sku: str
    description: str
    quantity: int
    unit_cost: int  # minor units

    @property
    def total(self) -> int:
        return self.quantity * self.unit_cost


@dataclass(frozen=True)
class InvoiceDocument:
    """What an invoice says; every file format renders the same facts."""

    number: str
    title: str  # "INVOICE", "RECEIPT", "PURCHASE ORDER", "PROFORMA INVOICE"
    supplier: str
    supplier_address: str
    bill_to: str
    issued_at: datetime
    currency: str
    items: tuple[LineItem, ...]

    @property
    def total(self) -> int:
        return sum(item.total for item in self.items)


def money(amount: int, currency: str) -> str:
    if currency == "JPY":
        return f"{amount:,} {currency}"
    return f"{amount // 100:,}.{amount % 100:02d} {currency}"


# -- PDF --------------------------------------------------------------------------------------


def _pdf_text(value: str) -> str:
    """A PDF literal string in WinAnsi (Latin-1) with `\\`, `(` and `)` escaped."""
    latin = value.encode("latin-1", "replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoice_pdf(doc: InvoiceDocument) -> bytes:
    lines: list[tuple[int, int, int, str]] = [  # (font size, x, y, text)
        (20, 50, 780, doc.title),
        (11, 50, 755, doc.supplier),
        (9, 50, 741, doc.supplier_address),
        (11, 380, 780, f"No. {doc.number}"),
        (11, 380, 765, f"Date: {doc.issued_at:%Y-%m-%d}"),
        (10, 50, 705, f"Bill to: {doc.bill_to}"),
        (10, 50, 670, "SKU"),
        (10, 170, 670, "Description"),
        (10, 380, 670, "Qty"),
        (10, 420, 670, "Unit cost"),
        (10, 500, 670, "Amount"),
    ]
    y = 650
    for item in doc.items:
        lines += [
            (9, 50, y, item.sku),
            (9, 170, y, item.description[:40]),
            (9, 380, y, str(item.quantity)),
            (9, 420, y, money(item.unit_cost, doc.currency)),
            (9, 500, y, money(item.total, doc.currency)),
        ]
        y -= 16
    lines.append((11, 380, y - 20, f"Total: {money(doc.total, doc.currency)}"))
    content = "\n".join(
        f"BT /F1 {size} Tf {x} {yy} Td ({_pdf_text(text)}) Tj ET" for size, x, yy, text in lines
    ).encode("latin-1")
    stamp = f"D:{doc.issued_at:%Y%m%d%H%M%S}Z"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        f"<< /Title ({_pdf_text(doc.title.title() + ' ' + doc.number)}) "
        f"/Author ({_pdf_text(doc.supplier)}) /Producer (Opside sandbox) "
        f"/CreationDate ({stamp}) >>".encode("latin-1"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# -- CSV and XLSX -----------------------------------------------------------------------------


CSV_HEADER = ("invoice_number", "date", "sku", "description", "quantity", "unit_cost", "amount")


def _rows(doc: InvoiceDocument) -> list[tuple[str, ...]]:
    decimals = 0 if doc.currency == "JPY" else 2

    def amount(value: int) -> str:
        return str(value) if decimals == 0 else f"{value / 100:.2f}"

    return [
        (
            doc.number,
            f"{doc.issued_at:%Y-%m-%d}",
            item.sku,
            item.description,
            str(item.quantity),
            amount(item.unit_cost),
            amount(item.total),
        )
        for item in doc.items
    ]


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def invoice_csv(doc: InvoiceDocument) -> bytes:
    lines = [",".join(CSV_HEADER)] + [
        ",".join(_csv_field(cell) for cell in row) for row in _rows(doc)
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


_XLSX_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Invoice" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet(rows: Sequence[Sequence[str]]) -> str:
    cells = []
    for r, row in enumerate(rows, start=1):
        row_cells = "".join(
            f'<c r="{_column(c)}{r}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
            for c, value in enumerate(row)
        )
        cells.append(f'<row r="{r}">{row_cells}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(cells)}</sheetData></worksheet>"
    )


def invoice_xlsx(doc: InvoiceDocument) -> bytes:
    buffer = io.BytesIO()
    parts = {**_XLSX_PARTS, "xl/worksheets/sheet1.xml": _sheet([CSV_HEADER, *_rows(doc)])}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            # A fixed timestamp: the same workbook has the same bytes on every run.
            archive.writestr(zipfile.ZipInfo(name, _XLSX_FIXED_TIME), text)
    return buffer.getvalue()


# -- PNG --------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def receipt_png(seed: str, width: int = 96, height: int = 128) -> bytes:
    """A grayscale "scanned receipt": paper with rows of ink whose lengths derive from `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        line = y // 8
        ink_to = 12 + digest[line % len(digest)] % (width - 24) if y % 8 < 3 else 0
        for x in range(width):
            rows.append(40 if 10 <= x < ink_to else 245)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )
