"""Where evidence files live: a small interface, content-addressed by SHA-256.

`EvidenceStorage` is the port; `LocalDirectoryStorage` (the default, `EVIDENCE_STORAGE_DIR`)
keeps each file once under `sha256/<2 hex>/<64 hex>`, written to a temporary name and renamed,
so a reader never sees half a file and two writers of the same content agree. An object store
(S3, Supabase Storage) implements the same three methods. File contents are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from opside_hub.config import EvidenceSettings

_KEY = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size: int


def sha256_key(digest: str) -> str:
    return f"sha256/{digest[:2]}/{digest}"


class EvidenceStorage(Protocol):
    async def put(self, content: bytes) -> StoredObject:
        """Store `content` (idempotent: the same bytes give the same key)."""
        ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...


class LocalDirectoryStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("not an evidence storage key")
        return self.root / key

    async def put(self, content: bytes) -> StoredObject:
        digest = hashlib.sha256(content).hexdigest()
        key = sha256_key(digest)
        await asyncio.to_thread(self._write, self._path(key), content)
        return StoredObject(key=key, sha256=digest, size=len(content))

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)


def storage_for(settings: EvidenceSettings) -> EvidenceStorage:
    return LocalDirectoryStorage(settings.storage_dir)
