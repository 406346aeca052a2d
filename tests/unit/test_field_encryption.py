from __future__ import annotations

import base64

import pytest

from paykit.errors import ConfigurationError, DecryptionError
from paykit.security import Keyring, configure_encryption, current_keyring, new_key, use_keyring
from paykit.security.encryption import (
    CIPHERTEXT_PREFIX,
    decrypt_value,
    encrypt_value,
    is_ciphertext,
    key_id_of,
    require_keyring,
)

RING = Keyring.generate("k1")


def test_round_trip_and_format() -> None:
    token = encrypt_value("+1 555 0100", purpose="users.phone", keyring=RING)
    assert token.startswith(f"{CIPHERTEXT_PREFIX}k1:")
    assert "555" not in token
    assert is_ciphertext(token)
    assert key_id_of(token) == "k1"
    assert decrypt_value(token, purpose="users.phone", keyring=RING) == "+1 555 0100"


def test_nonces_are_fresh() -> None:
    assert encrypt_value("x", purpose="p", keyring=RING) != encrypt_value(
        "x", purpose="p", keyring=RING
    )


def test_purpose_is_bound() -> None:
    token = encrypt_value("secret", purpose="users.phone", keyring=RING)
    with pytest.raises(DecryptionError):
        decrypt_value(token, purpose="users.tax_id", keyring=RING)


def test_tampering_and_relabelling_are_detected() -> None:
    token = encrypt_value("secret", purpose="p", keyring=RING)
    body = bytearray(base64.urlsafe_b64decode(token.rsplit(":", 1)[1]))
    body[-1] ^= 1
    flipped = token.rsplit(":", 1)[0] + ":" + base64.urlsafe_b64encode(bytes(body)).decode()
    with pytest.raises(DecryptionError):
        decrypt_value(flipped, purpose="p", keyring=RING)
    two = RING.with_key("k2", RING.keys["k1"])  # same key bytes, other id
    with pytest.raises(DecryptionError):
        decrypt_value(token.replace(":k1:", ":k2:"), purpose="p", keyring=two)
    for junk in (
        "plain text",
        f"{CIPHERTEXT_PREFIX}k1:",
        f"{CIPHERTEXT_PREFIX}k1:!!!",
        f"{CIPHERTEXT_PREFIX}k1:AAAA",
    ):
        with pytest.raises(DecryptionError):
            decrypt_value(junk, purpose="p", keyring=RING)


def test_unknown_key_id() -> None:
    token = encrypt_value("secret", purpose="p", keyring=RING)
    with pytest.raises(DecryptionError):
        decrypt_value(token, purpose="p", keyring=Keyring.generate("other"))


def test_rotation_keeps_old_keys_readable() -> None:
    old = encrypt_value("v", purpose="p", keyring=RING)
    rotated = RING.with_key("k2", new_key())
    assert rotated.active_key_id == "k2"
    assert key_id_of(encrypt_value("v", purpose="p", keyring=rotated)) == "k2"
    assert decrypt_value(old, purpose="p", keyring=rotated) == "v"


@pytest.mark.parametrize(
    ("keys", "active"),
    [({}, "k"), ({"k": b"short"}, "k"), ({"bad id": bytes(32)}, "bad id"), ({"k": bytes(32)}, "x")],
)
def test_keyring_validation(keys: dict[str, bytes], active: str) -> None:
    with pytest.raises(ConfigurationError):
        Keyring(keys, active)


def test_keyring_from_base64_and_repr_hides_keys() -> None:
    key = new_key()
    ring = Keyring.from_base64({"prod-2025": base64.b64encode(key).decode()}, "prod-2025")
    assert ring.keys["prod-2025"] == key
    assert base64.b64encode(key).decode() not in repr(ring)
    assert str(key) not in repr(ring)
    with pytest.raises(ConfigurationError):
        Keyring.from_base64({"k": "not base64!"}, "k")


def test_keys_cannot_be_mutated_through_the_callers_dict() -> None:
    keys = {"k": bytes(32)}
    ring = Keyring(keys, "k")
    keys["k"] = b"\x01" * 32
    assert ring.keys["k"] == bytes(32)


def test_process_keyring_and_scoped_override() -> None:
    other = Keyring.generate("scoped")
    with use_keyring(None):
        assert current_keyring() is None
        with pytest.raises(ConfigurationError, match="configure_encryption"):
            require_keyring()
    try:
        configure_encryption(RING)
        with use_keyring(None):  # a scoped "none" hides the process keyring
            assert current_keyring() is None
        with use_keyring(other):
            assert current_keyring() is other
        assert current_keyring() is RING
    finally:
        configure_encryption(None)
    with pytest.raises(ConfigurationError):
        configure_encryption("not a keyring")  # type: ignore[arg-type]
