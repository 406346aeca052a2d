"""A password hasher that keeps test suites fast."""

from __future__ import annotations

from typing import Final

from paykit.security.passwords import PasswordHasher

__all__ = ["FAST_PASSWORD_HASHER"]

FAST_PASSWORD_HASHER: Final = PasswordHasher(rounds=4, allow_weak=True)
"""bcrypt at cost 4, bcrypt's minimum: 2**8 = 256 times less work per hash than cost 12.

Pass it as ``hasher=`` to the user services (``register_user``, ``login``,
``change_password``, ``reset_password``, ...) in tests. Hashes it makes are
real paykit hashes: a production hasher verifies them and reports
``needs_rehash``. Never use it outside tests; paykit's default stays cost 12.
"""
