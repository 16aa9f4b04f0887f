"""Sealing secrets at rest: AES-256-GCM, a random 96-bit nonce per value, the owner bound in.

A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`:
- the version lets the format evolve, the key id names the key that sealed it, so
  `ENCRYPTION_KEY` can list a new key first while older ciphertexts still open;
- the associated data is the owner's identity — `(user id, provider, field)` — plus the version
  and key id, so a ciphertext copied into another user's row, another provider's slot or another
  column fails authentication instead of decrypting.
Opening is an explicit call that returns a `SecretStr`; nothing here logs a value.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from opside_hub.vault.exceptions import VaultDecryptError
from opside_hub.vault.keys import Keyring

VERSION = "v1"
NONCE_BYTES = 12


@dataclass(frozen=True)
class Owner:
    """Whose secret this is; bound into the ciphertext as associated data."""

    user_id: str
    provider: str
    field: str

    def aad(self, key_id: str) -> bytes:
        return "|".join(
            ("opside-vault", VERSION, key_id, self.user_id, self.provider, self.field)
        ).encode()


def seal(keyring: Keyring, owner: Owner, secret: SecretStr) -> str:
    key = keyring.current
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.material).encrypt(
        nonce, secret.get_secret_value().encode(), owner.aad(key.id)
    )
    payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{VERSION}.{key.id}.{payload}"


def unseal(keyring: Keyring, owner: Owner, value: str) -> SecretStr:
    _, key_id, payload = _split(value)
    key = keyring.get(key_id)
    if key is None:
        raise VaultDecryptError(f"no key {key_id!r} in ENCRYPTION_KEY")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VaultDecryptError("sealed value is not base64url") from exc
    if len(raw) <= NONCE_BYTES:
        raise VaultDecryptError("sealed value is truncated")
    try:
        plain = AESGCM(key.material).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.aad(key_id)
        )
    except InvalidTag as exc:
        # Wrong key, tampered bytes, or a ciphertext moved from another owner/field.
        raise VaultDecryptError("sealed value does not authenticate for this owner") from exc
    return SecretStr(plain.decode())


def key_id_of(value: str) -> str:
    return _split(value)[1]


def _split(value: str) -> tuple[str, str, str]:
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise VaultDecryptError("not a sealed value of a known version")
    return parts[0], parts[1], parts[2]
