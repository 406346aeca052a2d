"""Security primitives: passwords, tokens, field encryption, the policy table, RLS.

``paykit.security.rls`` (row-level security on PostgreSQL) is a submodule of
its own; the names below are the everyday ones.
"""

from paykit.security.encryption import (
    Keyring,
    configure_encryption,
    current_keyring,
    decrypt_value,
    encrypt_value,
    new_key,
    require_keyring,
    use_keyring,
)
from paykit.security.passwords import (
    DEFAULT_BCRYPT_ROUNDS,
    MIN_BCRYPT_ROUNDS,
    PasswordHasher,
    hash_password,
    verify_password,
)
from paykit.security.policy import POLICY, Action, Actor, allows, authorize, require
from paykit.security.rotation import ENCRYPTED_COLUMNS, RotationResult, reencrypt_personal_data
from paykit.security.tokens import hash_token, new_token

__all__ = [
    "DEFAULT_BCRYPT_ROUNDS",
    "ENCRYPTED_COLUMNS",
    "MIN_BCRYPT_ROUNDS",
    "POLICY",
    "Action",
    "Actor",
    "Keyring",
    "PasswordHasher",
    "RotationResult",
    "allows",
    "authorize",
    "configure_encryption",
    "current_keyring",
    "decrypt_value",
    "encrypt_value",
    "hash_password",
    "hash_token",
    "new_key",
    "new_token",
    "reencrypt_personal_data",
    "require",
    "require_keyring",
    "use_keyring",
    "verify_password",
]
