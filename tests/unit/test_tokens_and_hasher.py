from __future__ import annotations

import base64
import hashlib

import pytest

from paykit.security import PasswordHasher, hash_token, new_token
from paykit.security.passwords import dummy_hash, hash_rounds, verify_password
from paykit.security.tokens import tokens_equal

FAST = PasswordHasher(rounds=4, allow_weak=True)


def test_tokens_have_256_bits_and_a_prefix() -> None:
    token = new_token("pks")
    prefix, body = token.split("_", 1)
    assert prefix == "pks"
    assert len(base64.urlsafe_b64decode(body + "=")) == 32
    assert len({new_token("pks") for _ in range(100)}) == 100


def test_token_hash_is_sha256_hex() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert tokens_equal(hash_token("abc"), hash_token("abc"))
    assert not tokens_equal(hash_token("abc"), hash_token("abd"))


def test_hasher_default_and_floor() -> None:
    assert PasswordHasher().rounds == 12
    with pytest.raises(ValueError, match="below the minimum"):
        PasswordHasher(rounds=11)
    with pytest.raises(ValueError, match="between 4 and 31"):
        PasswordHasher(rounds=3, allow_weak=True)


def test_hasher_round_trip_and_rehash() -> None:
    hashed = FAST.hash("pässwörd\x00with nul")
    assert FAST.verify("pässwörd\x00with nul", hashed)
    assert not FAST.verify("pässwörd", hashed)
    assert not FAST.needs_rehash(hashed)
    assert PasswordHasher(rounds=5, allow_weak=True).needs_rehash(hashed)
    assert FAST.needs_rehash("garbage")


def test_missing_hash_costs_a_dummy_verification() -> None:
    assert FAST.verify("anything", None) is False
    assert FAST.verify("anything", "") is False


@pytest.mark.parametrize("rounds", [4, 12])
def test_shipped_dummy_hashes_match_their_cost_and_no_password(rounds: int) -> None:
    dummy = dummy_hash(rounds)
    assert hash_rounds(dummy) == rounds
    assert not verify_password("", dummy)
    assert not verify_password("password", dummy)


def test_lone_surrogates_hash_instead_of_crashing() -> None:
    hashed = FAST.hash("\udcff-password")
    assert FAST.verify("\udcff-password", hashed)
