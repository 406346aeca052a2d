"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes of a password. Rather than silently ignoring the
rest (so that two long passwords sharing a prefix would match), paykit first
takes SHA-256 of the UTF-8 password and base64-encodes it (44 bytes, no NUL),
the approach passlib calls ``bcrypt_sha256``. The stored hash is prefixed
``$paykit-bcrypt-sha256$`` so the scheme can be recognised and changed later.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from dataclasses import dataclass

import bcrypt

from paykit._arguments import check_fields
from paykit.errors import ValidationError

__all__ = [
    "DEFAULT_BCRYPT_ROUNDS",
    "MIN_BCRYPT_ROUNDS",
    "PasswordHasher",
    "dummy_hash",
    "hash_password",
    "hash_rounds",
    "verify_password",
]

#: bcrypt cost used unless a caller asks for more (seed section 7.1: 12 minimum).
DEFAULT_BCRYPT_ROUNDS = 12
#: The floor outside tests; tests may pass ``allow_weak=True`` to go faster.
MIN_BCRYPT_ROUNDS = 12

_PREFIX = "$paykit-bcrypt-sha256$"


def _prehash(password: str) -> bytes:
    # "surrogatepass": a lone surrogate (possible in a Python str) still hashes
    # deterministically instead of raising.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())


def hash_password(
    password: str, *, rounds: int = DEFAULT_BCRYPT_ROUNDS, allow_weak: bool = False
) -> str:
    """Hash ``password`` with bcrypt at cost ``rounds`` (never below 12 unless ``allow_weak``)."""
    if rounds < MIN_BCRYPT_ROUNDS and not allow_weak:
        raise ValidationError(f"bcrypt cost {rounds} is below the minimum of {MIN_BCRYPT_ROUNDS}")
    if not 4 <= rounds <= 31:
        raise ValidationError("bcrypt cost must be between 4 and 31")
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


# Hashes of random passwords nobody knows, for the common costs: login verifies
# against one when the email is unknown, so that path costs one bcrypt
# verification like a wrong password does. Constants, not state.
_DUMMY_HASHES = {
    12: "$paykit-bcrypt-sha256$$2b$12$RcmiHMbt.lpQLEo/yzvW2OeRDOgy0oAlTuMv2.S/spWEk0./Olwey",
    4: "$paykit-bcrypt-sha256$$2b$04$PhNGGypg2Ax2PIjkI9TEVua70zpdL7kMCGd8PoJtgp7C4VWlkF9h.",
}


@functools.lru_cache(maxsize=32)
def _computed_dummy(rounds: int) -> str:
    return hash_password(secrets.token_hex(32), rounds=rounds, allow_weak=True)


def dummy_hash(rounds: int) -> str:
    """A valid hash at cost ``rounds`` that no password matches (memoized per cost)."""
    return _DUMMY_HASHES.get(rounds) or _computed_dummy(rounds)


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    """The password policy the user services hash and verify with.

    ``rounds`` is the bcrypt cost (default 12, the seed's minimum). A cost below
    12 is refused unless ``allow_weak=True``, which exists so test suites can use
    cost 4 and stay fast; never set it in production.
    """

    rounds: int = DEFAULT_BCRYPT_ROUNDS
    allow_weak: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        if self.rounds < MIN_BCRYPT_ROUNDS and not self.allow_weak:
            raise ValidationError(
                f"bcrypt cost {self.rounds} is below the minimum of {MIN_BCRYPT_ROUNDS}"
            )
        if not 4 <= self.rounds <= 31:
            raise ValidationError("bcrypt cost must be between 4 and 31")

    def hash(self, password: str) -> str:
        """Hash ``password`` at this hasher's cost."""
        return hash_password(password, rounds=self.rounds, allow_weak=self.allow_weak)

    def verify(self, password: str, hashed: str | None) -> bool:
        """Check ``password`` against ``hashed``; with no usable hash, spend the same
        time on a dummy hash and return False."""
        if not hashed or not hashed.startswith(_PREFIX):
            verify_password(password, dummy_hash(self.rounds))
            return False
        return verify_password(password, hashed)

    def needs_rehash(self, hashed: str) -> bool:
        """True if ``hashed`` was made with a lower cost than this hasher's."""
        try:
            return hash_rounds(hashed) < self.rounds
        except (IndexError, ValueError):
            return True
