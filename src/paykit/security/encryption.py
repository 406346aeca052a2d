"""Field encryption for personal data at rest: the keyring and AES-GCM values.

The implementation lives in :mod:`paykit._encryption`, below the models (the
encrypted column types need it, and models import nothing from ``security``);
this module is its public home.
"""

from paykit._encryption import (
    CIPHERTEXT_PREFIX,
    Keyring,
    configure_encryption,
    current_keyring,
    decrypt_value,
    encrypt_value,
    is_ciphertext,
    key_id_of,
    new_key,
    require_keyring,
    use_keyring,
)

__all__ = [
    "CIPHERTEXT_PREFIX",
    "Keyring",
    "configure_encryption",
    "current_keyring",
    "decrypt_value",
    "encrypt_value",
    "is_ciphertext",
    "key_id_of",
    "new_key",
    "require_keyring",
    "use_keyring",
]
