"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes of a password. Rather than silently ignoring the
rest (so that two long passwords sharing a prefix would match), paykit first
takes SHA-256 of the UTF-8 password and base64-encodes it (44 bytes, no NUL),
the approach passlib calls ``bcrypt_sha256``. The stored hash is prefixed
``$paykit-bcrypt-sha256$`` so the scheme can be recognised and changed later.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt

__all__ = ["DEFAULT_BCRYPT_ROUNDS", "MIN_BCRYPT_ROUNDS", "hash_password", "verify_password"]

#: bcrypt cost used unless a caller asks for more (seed section 7.1: 12 minimum).
DEFAULT_BCRYPT_ROUNDS = 12
#: The floor outside tests; tests may pass ``allow_weak=True`` to go faster.
MIN_BCRYPT_ROUNDS = 12

_PREFIX = "$paykit-bcrypt-sha256$"


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(
    password: str, *, rounds: int = DEFAULT_BCRYPT_ROUNDS, allow_weak: bool = False
) -> str:
    """Hash ``password`` with bcrypt at cost ``rounds`` (never below 12 unless ``allow_weak``)."""
    if rounds < MIN_BCRYPT_ROUNDS and not allow_weak:
        raise ValueError(f"bcrypt cost {rounds} is below the minimum of {MIN_BCRYPT_ROUNDS}")
    if not 4 <= rounds <= 31:
        raise ValueError("bcrypt cost must be between 4 and 31")
    digest = bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds))
    return _PREFIX + digest.decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    """True if ``password`` matches ``hashed``; False for a missing or malformed hash."""
    if not hashed or not hashed.startswith(_PREFIX):
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed[len(_PREFIX) :].encode("ascii"))
    except ValueError:
        return False


def hash_rounds(hashed: str) -> int:
    """The bcrypt cost a stored hash was made with (for rehash-on-login policies)."""
    return int(hashed[len(_PREFIX) :].split("$")[2])
