"""Opaque secret tokens: session tokens, email-verification and password-reset tokens.

A token is ``<prefix>_`` + 43 base64url characters of ``secrets.token_bytes(32)``
(256 bits). The database keeps only its SHA-256 digest, so a leaked database or
backup holds nothing a client could present. The prefix lets secret scanners
recognise a leaked token and tells the token kinds apart at a glance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["TOKEN_BYTES", "hash_token", "new_token", "tokens_equal"]

#: Entropy of every token paykit issues.
TOKEN_BYTES = 32


def new_token(prefix: str) -> str:
    """A fresh token with 256 bits from ``secrets``, e.g. ``pks_…`` for a session."""
    return f"{prefix}_{secrets.token_urlsafe(TOKEN_BYTES)}"


def hash_token(token: str) -> str:
    """The value stored for ``token``: its SHA-256, hex.

    A plain hash (no salt, no stretching) is enough here: the token has 256 bits
    of entropy, so there is nothing to guess, and a deterministic digest is what
    lets the database find the row by an indexed lookup.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two token digests."""
    return hmac.compare_digest(a.encode(), b.encode())
