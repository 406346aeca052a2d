"""Key rotation: re-encrypt stored personal data under the keyring's active key.

Rotation in three steps (docs/security.md): add a new key and make it active
(``keyring.with_key("k2", new_key())``), deploy, then run
:func:`reencrypt_personal_data` until it reports nothing left; only then drop
the old key from the keyring.

This works on raw column text through Core, below the ORM's encrypted types,
so it never needs the plaintext in an ORM object and touches only rows whose
ciphertext names a key other than the active one. Each write is conditional on
the ciphertext it read, so a value changed meanwhile is never reverted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.db import schema_of
from paykit.errors import DecryptionError
from paykit.security.encryption import (
    CIPHERTEXT_PREFIX,
    Keyring,
    decrypt_value,
    encrypt_value,
    key_id_of,
    require_keyring,
)

__all__ = ["ENCRYPTED_COLUMNS", "RotationResult", "purpose_of", "reencrypt_personal_data"]

#: Table -> its encrypted columns (the ``purpose`` of each is ``"table.column"``).
ENCRYPTED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"users": ("phone", "date_of_birth", "tax_id", "billing_address")}
)


def purpose_of(table: str, column: str) -> str:
    """The associated-data label binding a ciphertext to its column."""
    return f"{table}.{column}"


def _write_if_unchanged(
    session: Session, table: sa.TableClause, row: sa.Row[Any], changes: dict[str, str]
) -> bool:
    """Write the re-encrypted values only where the old ciphertext is still stored.

    A profile update committed between the read and this write changed the
    ciphertext, so the condition fails and the newer value stays; the next
    call picks the row up again if it still needs a new key.
    """
    unchanged = [table.c[column] == row._mapping[column] for column in changes]
    result = session.execute(
        sa.update(table).where(table.c.id == row.id, *unchanged).values(**changes)
    )
    return int(cast(sa.CursorResult[Any], result).rowcount) == 1


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What one :func:`reencrypt_personal_data` call did."""

    values_reencrypted: int
    rows_updated: int
    remaining: int


@checked
def reencrypt_personal_data(
    session: Session, *, keyring: Keyring | None = None, batch_size: int = 500
) -> RotationResult:
    """Re-encrypt up to ``batch_size`` rows per table whose values use a non-active key.

    Call repeatedly (committing in between) until ``remaining`` is 0. A row
    whose values changed after this call read them is left as the other writer
    made it (it is not counted in ``rows_updated``). A value under a key the
    keyring no longer holds raises ``DecryptionError``. Flushes, never commits.
    """
    ring = keyring or require_keyring()
    active_prefix = f"{CIPHERTEXT_PREFIX}{ring.active_key_id}:"
    values = rows = remaining = 0
    # Lightweight tables (raw ciphertext, no decrypting column types) are not
    # rewritten by schema_translate_map: they name paykit's schema themselves.
    schema = schema_of(session.connection())
    for table_name, columns in ENCRYPTED_COLUMNS.items():
        table = sa.table(
            table_name,
            sa.column("id", sa.Text()),
            *(sa.column(c, sa.Text()) for c in columns),
            schema=schema,
        )
        stale = sa.or_(
            *(
                sa.and_(
                    table.c[c].is_not(None),
                    sa.not_(table.c[c].startswith(active_prefix, autoescape=True)),
                )
                for c in columns
            )
        )
        batch = session.execute(
            sa.select(table).where(stale).order_by(table.c.id).limit(batch_size)
        ).all()
        for row in batch:
            changes: dict[str, str] = {}
            for column in columns:
                current = row._mapping[column]
                if current is None or current.startswith(active_prefix):
                    continue
                if not current.startswith(CIPHERTEXT_PREFIX):
                    raise DecryptionError(
                        f"{table_name}.{column} of row {row.id} is not encrypted",
                        details={"table": table_name, "column": column, "id": row.id},
                    )
                key_id_of(current)
                purpose = purpose_of(table_name, column)
                plain = decrypt_value(current, purpose=purpose, keyring=ring)
                changes[column] = encrypt_value(plain, purpose=purpose, keyring=ring)
            if changes and _write_if_unchanged(session, table, row, changes):
                values += len(changes)
                rows += 1
        remaining += int(
            session.scalar(sa.select(sa.func.count()).select_from(table).where(stale)) or 0
        )
    session.flush()
    return RotationResult(values, rows, remaining)
