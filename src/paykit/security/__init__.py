"""Security primitives: password hashing (more arrives with the users issue)."""

from paykit.security.passwords import (
    DEFAULT_BCRYPT_ROUNDS,
    MIN_BCRYPT_ROUNDS,
    hash_password,
    verify_password,
)

__all__ = ["DEFAULT_BCRYPT_ROUNDS", "MIN_BCRYPT_ROUNDS", "hash_password", "verify_password"]
