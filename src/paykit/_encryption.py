"""Field encryption for personal data at rest: AES-256-GCM under a rotating keyring.

This module sits low in the layers (it imports only ``errors`` and
``_arguments``): the encrypted column types of ``paykit.models.types`` use it,
and so does ``paykit.security``, whose public home for these names is
``paykit.security.encryption``. Models import nothing from ``security``.

A value is stored as ``pkenc:v1:<key id>:<base64url(nonce || ciphertext || tag)>``.
The key id travels with every ciphertext, so old rows stay readable after the
active key changes, and :func:`paykit.security.reencrypt_personal_data` moves
them to the new key. The associated data binds each ciphertext to its format
version, its key id and its column (``users.phone``): a value copied into
another column, or relabelled with another key id, fails to decrypt.

Where the keys come from. SQLAlchemy column types cannot see a session, so
the keyring is looked up when a value is bound or loaded:

1. the keyring of the innermost :func:`use_keyring` block in the current
   context (a ``ContextVar``: tests and multi-tenant hosts scope keys with it);
2. otherwise the process-wide keyring the host registered at start-up with
   :func:`configure_encryption` -- the one piece of module-level mutable state
   in paykit, set by the host and never by paykit itself;
3. otherwise none: writing or reading a non-NULL encrypted value raises
   :class:`paykit.errors.ConfigurationError`. NULLs need no key, so a host that
   stores no personal data need not configure encryption at all.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paykit._arguments import check_fields, checked
from paykit.errors import ConfigurationError, DecryptionError

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

#: Every stored ciphertext starts with this; anything else in an encrypted column is an error.
CIPHERTEXT_PREFIX = "pkenc:v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NONCE_BYTES = 12


@dataclass(frozen=True)
class Keyring:
    """Key id -> 32-byte AES key, and the id of the key new values are encrypted with.

    Keep retired keys in the keyring until :func:`reencrypt_personal_data` has
    moved every row off them. The keys never appear in ``repr()``.
    """

    keys: Mapping[str, bytes] = field(repr=False)
    active_key_id: str

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.keys:
            raise ConfigurationError("a keyring needs at least one key")
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise ConfigurationError(
                    f"key id {key_id!r} must be 1-64 characters of A-Z, a-z, 0-9, _ and -"
                )
            if not isinstance(key, bytes) or len(key) != 32:
                raise ConfigurationError(f"key {key_id!r} must be exactly 32 bytes (AES-256)")
        if self.active_key_id not in self.keys:
            raise ConfigurationError(f"active key {self.active_key_id!r} is not in the keyring")
        # A read-only copy: a caller mutating its dict must not change live keys.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @classmethod
    def generate(cls, key_id: str = "k1") -> Keyring:
        """A keyring with one fresh random key (for tests, demos and first set-up)."""
        return cls({key_id: AESGCM.generate_key(bit_length=256)}, key_id)

    @classmethod
    def from_base64(cls, keys: Mapping[str, str], active_key_id: str) -> Keyring:
        """Build from base64-encoded keys, as they come from a secret store or environment."""
        decoded: dict[str, bytes] = {}
        for key_id, text in keys.items():
            try:
                decoded[key_id] = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigurationError(f"key {key_id!r} is not valid base64") from exc
        return cls(decoded, active_key_id)

    def with_key(self, key_id: str, key: bytes, *, activate: bool = True) -> Keyring:
        """A new keyring with ``key`` added (and made active, by default): step one of rotation."""
        return Keyring({**self.keys, key_id: key}, key_id if activate else self.active_key_id)

    def key(self, key_id: str) -> bytes:
        """The key with id ``key_id``; ``DecryptionError`` if this keyring does not hold it."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise DecryptionError(
                f"no key {key_id!r} in the configured keyring", details={"key_id": key_id}
            ) from None


_lock = threading.Lock()
_process_keyring: Keyring | None = None
_scoped: ContextVar[Keyring | None] = ContextVar("paykit_keyring", default=None)
# A sentinel keyring meaning "explicitly none here", so use_keyring(None) can
# hide a process-wide keyring from a test.
_NO_KEYRING = Keyring({"none": bytes(32)}, "none")


@checked
def configure_encryption(keyring: Keyring | None) -> None:
    """Register the process-wide keyring (``None`` removes it). Call once at start-up."""
    global _process_keyring
    if keyring is not None and not isinstance(keyring, Keyring):
        raise ConfigurationError("configure_encryption() takes a paykit.security.Keyring")
    with _lock:
        _process_keyring = keyring


@contextmanager
def use_keyring(keyring: Keyring | None) -> Iterator[Keyring | None]:
    """Use ``keyring`` (or no keyring at all, with ``None``) inside the ``with`` block only.

    Scoped to the current thread or asyncio task; it overrides the process-wide
    keyring and is restored on exit, so tests never leak keys into each other.
    """
    token = _scoped.set(keyring if keyring is not None else _NO_KEYRING)
    try:
        yield keyring
    finally:
        _scoped.reset(token)


def current_keyring() -> Keyring | None:
    """The keyring in force here (scoped, else process-wide), or ``None``."""
    scoped = _scoped.get()
    if scoped is _NO_KEYRING:
        return None
    if scoped is not None:
        return scoped
    with _lock:
        return _process_keyring


def require_keyring() -> Keyring:
    """The keyring in force, or a ``ConfigurationError`` that says how to configure one."""
    keyring = current_keyring()
    if keyring is None:
        raise ConfigurationError(
            "personal data is encrypted at rest and no encryption key is configured: call "
            "paykit.security.configure_encryption(Keyring(...)) at start-up",
            code="encryption_not_configured",
        )
    return keyring


def _aad(key_id: str, purpose: str) -> bytes:
    return f"{CIPHERTEXT_PREFIX}{key_id}:{purpose}".encode()


def encrypt_value(plaintext: str, *, purpose: str, keyring: Keyring | None = None) -> str:
    """Encrypt ``plaintext`` under the active key; ``purpose`` (the column) is bound in."""
    ring = keyring or require_keyring()
    key_id = ring.active_key_id
    # 96-bit random nonces: safe for far more than 2**32 values per key (NIST SP 800-38D).
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(ring.key(key_id)).encrypt(
        nonce, plaintext.encode("utf-8"), _aad(key_id, purpose)
    )
    body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
    return f"{CIPHERTEXT_PREFIX}{key_id}:{body}"


def is_ciphertext(value: object) -> bool:
    """True if ``value`` looks like a paykit ciphertext (prefix, key id and body)."""
    if not isinstance(value, str) or not value.startswith(CIPHERTEXT_PREFIX):
        return False
    parts = value[len(CIPHERTEXT_PREFIX) :].split(":")
    return len(parts) == 2 and bool(_KEY_ID.match(parts[0])) and bool(parts[1])


def key_id_of(ciphertext: str) -> str:
    """The id of the key ``ciphertext`` was made with."""
    if not is_ciphertext(ciphertext):
        raise DecryptionError("not a paykit ciphertext")
    return ciphertext[len(CIPHERTEXT_PREFIX) :].split(":")[0]


def decrypt_value(ciphertext: str, *, purpose: str, keyring: Keyring | None = None) -> str:
    """Decrypt a value made by :func:`encrypt_value` for the same ``purpose``.

    Raises ``DecryptionError`` for anything that is not an intact paykit
    ciphertext of this purpose under a key the keyring holds.
    """
    ring = keyring or require_keyring()
    key_id = key_id_of(ciphertext)
    body = ciphertext[len(CIPHERTEXT_PREFIX) + len(key_id) + 1 :]
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise DecryptionError("malformed ciphertext", details={"key_id": key_id}) from None
    if len(raw) <= _NONCE_BYTES + 16:
        raise DecryptionError("truncated ciphertext", details={"key_id": key_id})
    try:
        plain = AESGCM(ring.key(key_id)).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key_id, purpose)
        )
    except InvalidTag:
        raise DecryptionError(
            f"ciphertext does not authenticate for {purpose}", details={"key_id": key_id}
        ) from None
    return plain.decode("utf-8")


def new_key() -> bytes:
    """32 fresh random bytes: a new AES-256 key for :meth:`Keyring.with_key`."""
    return secrets.token_bytes(32)
