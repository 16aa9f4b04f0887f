"""The keyring behind `ENCRYPTION_KEY`: one or more 256-bit keys, newest first.

Each comma-separated entry is `<key id>:<key>` or just `<key>`; a key is 32 bytes written as
base64 (standard or URL-safe) or as 64 hex digits. Without an explicit id, the id is derived from
the key (first 8 hex digits of its SHA-256), so ciphertexts name the key that sealed them and a
rotation can add a new key in front while the old ones still decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, field

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Key:
    id: str
    material: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Key(id={self.id!r}, material=***)"


@dataclass(frozen=True)
class Keyring:
    keys: tuple[Key, ...]

    @property
    def current(self) -> Key:
        return self.keys[0]

    def get(self, key_id: str) -> Key | None:
        return next((key for key in self.keys if key.id == key_id), None)


def parse_keyring(raw: str) -> Keyring:
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise ValueError("ENCRYPTION_KEY holds no key")
    keys = tuple(_parse_entry(entry) for entry in entries)
    ids = [key.id for key in keys]
    if len(set(ids)) != len(ids):
        raise ValueError("ENCRYPTION_KEY repeats a key id")
    return Keyring(keys)


def _parse_entry(entry: str) -> Key:
    key_id, sep, encoded = entry.partition(":")
    if not sep:
        key_id, encoded = "", entry
    elif not _KEY_ID.match(key_id):
        raise ValueError("an ENCRYPTION_KEY key id may use letters, digits, '_' and '-' only")
    material = _decode(encoded)
    return Key(id=key_id or hashlib.sha256(material).hexdigest()[:8], material=material)


def _decode(encoded: str) -> bytes:
    if re.fullmatch(r"[0-9a-fA-F]{64}", encoded):
        material = bytes.fromhex(encoded)
    else:
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            material = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("an ENCRYPTION_KEY key is neither base64 nor hex") from exc
    if len(material) != KEY_BYTES:
        raise ValueError(f"an ENCRYPTION_KEY key must be {KEY_BYTES} bytes")
    if len(set(material)) < 8:
        raise ValueError("an ENCRYPTION_KEY key is not random")
    return material


def generate_key() -> str:
    """A new key in the notation `parse_keyring` reads (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")
