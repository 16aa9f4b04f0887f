"""Read a `/metrics` exposition the way Prometheus does, and compare two scrapes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from opside_hub.core.logging import configure_logging

EXPOSITION_TYPE = "text/plain; version=0.0.4"


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape: (sample name, sorted labels) → value."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(samples)

    def select(self, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
        """The samples of `name` whose labels include `labels`."""
        return {
            key: value
            for (sample, key), value in self.samples.items()
            if sample == name and labels.items() <= dict(key).items()
        }

    def total(self, name: str, **labels: str) -> float:
        return sum(self.select(name, **labels).values())

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(key)[label] for key in self.select(name) if label in dict(key)}


async def scrape(http: httpx2.AsyncClient, headers: dict[str, str] | None = None) -> Scrape:
    response = await http.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(EXPOSITION_TYPE)
    return Scrape.parse(response.text)


@contextmanager
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """Every log record (ours and third-party) as the production JSON lines, parsed."""
    stream = io.StringIO()
    records: list[dict[str, Any]] = []
    configure_logging(json=True, level="INFO")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger().removeHandler(handler)
        configure_logging(json=False, level="INFO")
        records.extend(json.loads(line) for line in stream.getvalue().splitlines() if line)
