from __future__ import annotations

import pytest
from pydantic import SecretStr

from opside_hub.vault.cipher import Owner, key_id_of, seal, unseal
from opside_hub.vault.exceptions import VaultDecryptError
from opside_hub.vault.keys import generate_key, parse_keyring

KEYRING = parse_keyring(f"k2:{generate_key()},k1:{generate_key()}")
ALICE_AMAZON = Owner(user_id="alice", provider="amazon", field="refresh_token")


def test_sealed_value_opens_for_its_owner_and_hides_the_plaintext() -> None:
    sealed = seal(KEYRING, ALICE_AMAZON, SecretStr("Atzr|secret-refresh"))

    assert "Atzr" not in sealed
    assert sealed.startswith("v1.k2.")
    assert unseal(KEYRING, ALICE_AMAZON, sealed).get_secret_value() == "Atzr|secret-refresh"


def test_every_seal_uses_a_fresh_nonce() -> None:
    first = seal(KEYRING, ALICE_AMAZON, SecretStr("same"))
    second = seal(KEYRING, ALICE_AMAZON, SecretStr("same"))

    assert first != second


@pytest.mark.parametrize(
    "other",
    [
        Owner(user_id="bob", provider="amazon", field="refresh_token"),
        Owner(user_id="alice", provider="gmail", field="refresh_token"),
        Owner(user_id="alice", provider="amazon", field="access_token"),
    ],
)
def test_ciphertext_moved_to_another_owner_does_not_decrypt(other: Owner) -> None:
    sealed = seal(KEYRING, ALICE_AMAZON, SecretStr("Atzr|secret-refresh"))

    with pytest.raises(VaultDecryptError):
        unseal(KEYRING, other, sealed)


def test_tampered_ciphertext_is_rejected() -> None:
    sealed = seal(KEYRING, ALICE_AMAZON, SecretStr("Atzr|secret-refresh"))
    head, payload = sealed.rsplit(".", 1)
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]

    with pytest.raises(VaultDecryptError):
        unseal(KEYRING, ALICE_AMAZON, f"{head}.{flipped}")


def test_relabelled_key_id_is_rejected() -> None:
    sealed = seal(KEYRING, ALICE_AMAZON, SecretStr("x"))

    with pytest.raises(VaultDecryptError):
        unseal(KEYRING, ALICE_AMAZON, sealed.replace("v1.k2.", "v1.k1.", 1))


def test_old_key_still_opens_after_a_new_key_is_put_first() -> None:
    old_ring = parse_keyring(f"k1:{KEYRING.get('k1').material.hex()}")  # type: ignore[union-attr]
    sealed_with_old = seal(old_ring, ALICE_AMAZON, SecretStr("kept"))

    assert key_id_of(sealed_with_old) == "k1"
    assert unseal(KEYRING, ALICE_AMAZON, sealed_with_old).get_secret_value() == "kept"


def test_unknown_key_id_and_garbage_are_refused() -> None:
    sealed = seal(parse_keyring(generate_key()), ALICE_AMAZON, SecretStr("x"))

    with pytest.raises(VaultDecryptError, match="no key"):
        unseal(KEYRING, ALICE_AMAZON, sealed)
    with pytest.raises(VaultDecryptError):
        unseal(KEYRING, ALICE_AMAZON, "plaintext-token")


def test_secret_values_print_masked() -> None:
    assert "Atzr" not in repr(SecretStr("Atzr|x"))
    assert "material" in repr(KEYRING.current)
    assert KEYRING.current.material.hex() not in repr(KEYRING.current)
