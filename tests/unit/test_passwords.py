from __future__ import annotations

import bcrypt
import pytest

from paykit.errors import ValidationError
from paykit.security.passwords import (
    PasswordHasher,
    check_password_policy,
    hash_password,
    hash_rounds,
    verify_password,
)


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


# Plain bcrypt hashes as other systems write them: PHP's documented example
# ($2y$), the OpenBSD test vector ($2a$, as bcryptjs writes), and pyca ($2b$).
FOREIGN_HASHES = [
    ("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
    ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("correct horse", "$2b$04$KCfNSKgHGpEPAV9c1V4L/.BvmXq6kfB3Hv08D6Vz0n8v3W8UD6GRG"),
]


@pytest.mark.parametrize(("password", "hashed"), FOREIGN_HASHES)
def test_standard_bcrypt_hashes_verify(password: str, hashed: str) -> None:
    assert verify_password(password, hashed)
    assert not verify_password(password + "x", hashed)
    assert PasswordHasher(rounds=4, allow_weak=True).verify(password, hashed)
    assert PasswordHasher(rounds=4, allow_weak=True).needs_rehash(hashed)


def test_bcryptjs_long_passwords_use_the_first_72_bytes() -> None:
    # bcryptjs hashes only the first 72 bytes; the same password must verify here.
    password = "é" * 40  # 80 UTF-8 bytes
    hashed = "$2a$" + bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()[4:]
    assert verify_password(password, hashed)
    assert not verify_password("é" * 35, hashed)


def test_paykit_hashes_need_no_rehash_at_the_same_cost() -> None:
    hasher = PasswordHasher(rounds=4, allow_weak=True)
    assert not hasher.needs_rehash(hasher.hash("password1"))


@pytest.mark.parametrize("password", ["abc", "", "x" * 7, "x" * 1025, "bad\ud800surrogate"])
def test_the_password_policy_refuses(password: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_password_policy(password)
    assert info.value.code == "invalid_password"


def test_the_password_policy_takes_passwords_as_typed() -> None:
    assert check_password_policy("  spaced  ") == "  spaced  "
