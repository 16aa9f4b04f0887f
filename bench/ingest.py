"""Report ingest: a generated GET_FBA_REIMBURSEMENTS_DATA report of N rows, end to end.

For each backend (PostgreSQL, SQLite) and N (100k, 1M) a fresh process:
1. writes the gzip report (the sandbox generator) and serves it over HTTP from another process;
2. ingests it end to end — download → gunzip → parse by header → normalize → upsert in
   batches — timing rows/s and sampling peak RSS above the process's baseline;
3. ingests it again (unchanged): the time, and the rows written (goal 0);
4. loads the same, already-built rows straight through the bulk upsert (COPY → temp table →
   INSERT … ON CONFLICT on PostgreSQL) into an empty table: the ceiling, and the ratio to it.

    uv run python bench/ingest.py                       # both backends, N = 100k and 1M
    uv run python bench/ingest.py --rows 100000 --backend sqlite

PostgreSQL is reached through DATABASE_URL (default postgresql://127.0.0.1:5432/test; a fresh
database is created and dropped); SQLite is a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _harness import Backend, backend, bench_settings
from sqlalchemy import delete

from opside_hub.auth.repository import get_or_create_user
from opside_hub.db.bulk import upsert_rows
from opside_hub.db.models import AmazonReimbursement
from opside_hub.db.session import transaction
from opside_hub.providers.amazon.parsing import Record
from opside_hub.providers.amazon.reports import BATCH_ROWS, ingest_document
from opside_hub.providers.amazon.rows import reimbursement_row
from opside_hub.providers.amazon.schemas import ReportDocument
from opside_hub.runtime import Runtime
from opside_hub.sandbox.amazon.data import (
    REIMBURSEMENTS_REPORT,
    REPORT_COLUMNS,
    DataSizes,
    SellerData,
)

SELLER = "A1BENCHINGEST00"
ROWS_PER_EVENT = 1.3  # a reimbursement spanning SKUs is one event, several rows


def write_report(path: Path, rows: int) -> int:
    """The sandbox generator's report for ~`rows` rows, gzipped to `path`; returns the rows."""
    end = datetime(2026, 1, 1, tzinfo=UTC)
    data = SellerData(SELLER, DataSizes(reimbursements=max(1, int(rows / ROWS_PER_EVENT))))
    written = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for line in data.report_lines(REIMBURSEMENTS_REPORT, end - timedelta(days=540), end):
            if written > rows:  # header + `rows` data lines
                break
            out.write(line)
            written += 1
    return written - 1


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    def __init__(self) -> None:
        self.peak = rss_mb()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            await asyncio.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_mb())


async def _records(path: Path) -> list[dict[str, Any]]:
    """The rows the report holds, built outside any timing (for the ceiling)."""
    columns = REPORT_COLUMNS[REIMBURSEMENTS_REPORT]
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as source:
        header = [c.strip() for c in next(source).rstrip("\n").split("\t")]
        assert header == list(columns)
        for number, line in enumerate(source, start=2):
            values = line.rstrip("\n").split("\t")
            rows.append(reimbursement_row(Record(number, dict(zip(header, values, strict=True)))))
    return rows


async def one(label: str, rows: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp())
    report = directory / "report.gz"
    actual_rows = write_report(report, rows)
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [
            sys.executable,
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = _port_of(server)
        document = ReportDocument(
            reportDocumentId="bench",
            url=f"http://127.0.0.1:{port}/report.gz",
            compressionAlgorithm="GZIP",
        )
        if label == "sqlite":
            os.environ.pop("DATABASE_URL", None)
        async with backend() as chosen:
            return await _measure(chosen, document, report, actual_rows)
    finally:
        server.terminate()
        server.wait()


def _port_of(server: subprocess.Popen[str]) -> int:
    assert server.stdout is not None
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (...)"
    return int(line.split(" port ")[1].split()[0])


async def _measure(
    chosen: Backend, document: ReportDocument, report: Path, rows: int
) -> dict[str, Any]:
    runtime = await Runtime.start(bench_settings(chosen, f"bench-{uuid.uuid4().hex[:8]}"))
    try:
        async with transaction(runtime.sessions) as session:
            await get_or_create_user(session, "bench", None)
        baseline = rss_mb()
        with PeakRss() as memory:
            started = time.perf_counter()
            first = await ingest_document(
                runtime, "bench", "r1", document, AmazonReimbursement, reimbursement_row
            )
            e2e_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await ingest_document(
            runtime, "bench", "r1", document, AmazonReimbursement, reimbursement_row
        )
        reingest_s = time.perf_counter() - started

        built = await _records(report)
        async with transaction(runtime.sessions) as session:
            await session.execute(delete(AmazonReimbursement))
        started = time.perf_counter()
        for offset in range(0, len(built), BATCH_ROWS):
            async with transaction(runtime.sessions) as session:
                await upsert_rows(
                    session, AmazonReimbursement, "bench", built[offset : offset + BATCH_ROWS]
                )
        ceiling_s = time.perf_counter() - started
    finally:
        await runtime.stop()
    return {
        "backend": chosen.label,
        "rows": rows,
        "rows_read": first.rows_read,
        "rows_written": first.rows_written,
        "quarantined": first.rows_quarantined,
        "e2e_rows_per_s": round(rows / e2e_s),
        "e2e_s": round(e2e_s, 2),
        "peak_rss_above_baseline_mb": round(memory.peak - baseline, 1),
        "reingest_s": round(reingest_s, 2),
        "reingest_rows_written": again.rows_written,
        "ceiling_rows_per_s": round(rows / ceiling_s),
        "ratio_to_ceiling": round(ceiling_s / e2e_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), action="append")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        label, rows = args.one
        print(json.dumps(asyncio.run(one(label, int(rows)))))
        return
    results = []
    for label in args.backend or ("postgresql", "sqlite"):
        for rows in args.rows or (100_000, 1_000_000):
            env = dict(os.environ)
            if label == "postgresql":
                env.setdefault("DATABASE_URL", "postgresql://127.0.0.1:5432/test")
            env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
            # A process per run: peak RSS and caches start clean.
            done = subprocess.run(
                [sys.executable, __file__, "--one", label, str(rows)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    print()
    print(
        f"{'backend':<24}{'rows':>9}{'rows/s':>9}{'ceiling':>9}{'ratio':>7}"
        f"{'peakMB':>8}{'re-ingest s':>12}{'re-written':>11}"
    )
    for r in results:
        print(
            f"{r['backend']:<24}{r['rows']:>9}{r['e2e_rows_per_s']:>9}"
            f"{r['ceiling_rows_per_s']:>9}{r['ratio_to_ceiling']:>7}"
            f"{r['peak_rss_above_baseline_mb']:>8}{r['reingest_s']:>12}"
            f"{r['reingest_rows_written']:>11}"
        )


if __name__ == "__main__":
    main()
