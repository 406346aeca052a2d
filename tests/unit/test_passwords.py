from __future__ import annotations

import pytest

from paykit.security.passwords import hash_password, hash_rounds, verify_password


def test_hash_and_verify() -> None:
    hashed = hash_password("s3cret-password", rounds=4, allow_weak=True)
    assert hashed != "s3cret-password"
    assert verify_password("s3cret-password", hashed)
    assert not verify_password("s3cret-passwore", hashed)
    assert hash_rounds(hashed) == 4


def test_default_cost_is_12() -> None:
    assert hash_rounds(hash_password("x" * 8)) == 12


def test_cost_below_12_is_refused_outside_tests() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        hash_password("password", rounds=10)


def test_long_passwords_are_not_truncated_at_72_bytes() -> None:
    base = "a" * 72
    hashed = hash_password(base + "X", rounds=4, allow_weak=True)
    assert not verify_password(base + "Y", hashed)
    assert verify_password(base + "X", hashed)


@pytest.mark.parametrize("bad", [None, "", "plain", "$2b$12$notpaykit"])
def test_malformed_hashes_never_verify(bad: str | None) -> None:
    assert verify_password("anything", bad) is False


def test_unicode_passwords() -> None:
    hashed = hash_password("pässwörd-ñ-日本", rounds=4, allow_weak=True)
    assert verify_password("pässwörd-ñ-日本", hashed)
