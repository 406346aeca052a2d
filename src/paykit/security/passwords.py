"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes of a password. Rather than silently ignoring the
rest (so that two long passwords sharing a prefix would match), paykit first
takes SHA-256 of the UTF-8 password and base64-encodes it (44 bytes, no NUL),
the approach passlib calls ``bcrypt_sha256``. The stored hash is prefixed
``$paykit-bcrypt-sha256$`` so the scheme can be recognised and changed later.

Plain bcrypt hashes (``$2a$``, ``$2b$``, ``$2y$``, as bcryptjs, PHP and most
frameworks write them) also verify, so users can be imported from another
system; :meth:`PasswordHasher.needs_rehash` is true for them, and login
replaces them with paykit's scheme at the next successful login.

:func:`check_password_policy` is the one password rule: registration, reset,
change and seeding all apply it.
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
    "MAX_PASSWORD_LENGTH",
    "MIN_BCRYPT_ROUNDS",
    "MIN_PASSWORD_LENGTH",
    "PasswordHasher",
    "check_password_policy",
    "dummy_hash",
    "hash_password",
    "hash_rounds",
    "verify_password",
]

#: bcrypt cost used unless a caller asks for more (seed section 7.1: 12 minimum).
DEFAULT_BCRYPT_ROUNDS = 12
#: The floor outside tests; tests may pass ``allow_weak=True`` to go faster.
MIN_BCRYPT_ROUNDS = 12

#: Seed section 5.1: "Password must be at least 8 characters".
MIN_PASSWORD_LENGTH = 8
#: Passwords are pre-hashed with SHA-256, so length costs little; the cap only
#: bounds request size.
MAX_PASSWORD_LENGTH = 1024

_PREFIX = "$paykit-bcrypt-sha256$"
# Plain bcrypt as other systems store it; "$2x$" (a buggy-implementation marker) is not.
_PLAIN_BCRYPT = ("$2a$", "$2b$", "$2y$")
#: bcrypt's own input limit; bcryptjs and PHP silently use the first 72 bytes.
_BCRYPT_MAX_BYTES = 72


def check_password_policy(password: object) -> str:
    """Return ``password`` if paykit's password policy accepts it, else ``ValidationError``.

    The policy: a ``str`` of 8 to 1024 characters that encodes as UTF-8,
    taken exactly as typed (never stripped or normalised). Registration,
    password change and reset, and :func:`paykit.services.seed.seed` use it.
    """
    if not isinstance(password, str):
        raise ValidationError("password must be a string", code="invalid_password")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            code="invalid_password",
            details={"min_length": MIN_PASSWORD_LENGTH, "max_length": MAX_PASSWORD_LENGTH},
        )
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("password must be valid Unicode", code="invalid_password") from None
    return password


def _is_plain_bcrypt(hashed: str) -> bool:
    """True for a standard bcrypt hash (``$2a$``, ``$2b$``, ``$2y$``) from another system."""
    return hashed.startswith(_PLAIN_BCRYPT)


def _verify_plain_bcrypt(password: str, hashed: str) -> bool:
    # As bcryptjs does: UTF-8 bytes, the first 72 only (what the hash was made from).
    secret = password.encode("utf-8", "surrogatepass")[:_BCRYPT_MAX_BYTES]
    try:
        return bcrypt.checkpw(secret, hashed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


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
    """True if ``password`` matches ``hashed`` (paykit's scheme or plain bcrypt);
    False for a missing or malformed hash."""
    if not hashed:
        return False
    if _is_plain_bcrypt(hashed):
        return _verify_plain_bcrypt(password, hashed)
    if not hashed.startswith(_PREFIX):
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
        if not hashed or not hashed.startswith((_PREFIX, *_PLAIN_BCRYPT)):
            verify_password(password, dummy_hash(self.rounds))
            return False
        return verify_password(password, hashed)

    def needs_rehash(self, hashed: str) -> bool:
        """True if ``hashed`` is not paykit's scheme (plain bcrypt from another
        system) or was made with a lower cost than this hasher's."""
        if not hashed.startswith(_PREFIX):
            return True
        try:
            return hash_rounds(hashed) < self.rounds
        except (IndexError, ValueError):
            return True
