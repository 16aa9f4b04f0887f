"""The ENCRYPTION_KEY notation: `kid:key` or bare keys, base64 or hex, newest first."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable

import pytest

from opside_hub.vault.keys import KEY_BYTES, generate_key, parse_keyring


def test_a_generated_key_parses_with_an_id_derived_from_the_material() -> None:
    keyring = parse_keyring(generate_key())

    (key,) = keyring.keys
    assert len(key.material) == KEY_BYTES
    assert key.id == hashlib.sha256(key.material).hexdigest()[:8]
    assert keyring.current is key


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: base64.b64encode(raw).decode(),  # standard, padded
        lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),  # URL-safe, unpadded
        lambda raw: raw.hex(),
        lambda raw: raw.hex().upper(),
    ],
    ids=["base64", "base64url", "hex", "HEX"],
)
def test_every_documented_encoding_reads_the_same_material(
    encode: Callable[[bytes], str],
) -> None:
    raw = secrets.token_bytes(KEY_BYTES)

    keyring = parse_keyring(f"k1:{encode(raw)}")

    assert keyring.current.id == "k1"
    assert keyring.current.material == raw


def test_the_first_key_seals_and_every_key_still_opens() -> None:
    new, old = secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES)
    raw = f" 2026-11:{new.hex()} , 2025-01:{base64.b64encode(old).decode()} "

    keyring = parse_keyring(raw)

    assert [key.id for key in keyring.keys] == ["2026-11", "2025-01"]
    assert keyring.current.material == new
    found = keyring.get("2025-01")
    assert found is not None
    assert found.material == old
    assert keyring.get("missing") is None


def test_key_material_never_shows_in_reprs() -> None:
    raw = secrets.token_bytes(KEY_BYTES)
    keyring = parse_keyring(f"k1:{raw.hex()}")

    assert raw.hex() not in repr(keyring)
    assert "material=***" in repr(keyring.current)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "holds no key"),
        (" , ", "holds no key"),
        ("0" * 64, "not random"),
        (base64.b64encode(b"a" * KEY_BYTES).decode(), "not random"),
        (base64.b64encode(secrets.token_bytes(16)).decode(), "must be 32 bytes"),
        (secrets.token_bytes(KEY_BYTES).hex() + "00", "must be 32 bytes"),
        ("a", "neither base64 nor hex"),
        ("bad id!:" + generate_key(), "key id"),
        (f"same:{generate_key()},same:{generate_key()}", "repeats a key id"),
    ],
    ids=[
        "empty",
        "only-commas",
        "zeros-hex",
        "repeated-byte",
        "16-bytes",
        "33-bytes",
        "not-encoded",
        "bad-id",
        "duplicate-id",
    ],
)
def test_unusable_keys_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        parse_keyring(raw)

    assert "ENCRYPTION_KEY" in str(raised.value)
