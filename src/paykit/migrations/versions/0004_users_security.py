"""Users security: personal data encrypted at rest, single-use user tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:31:57.314945

``users.date_of_birth`` (timestamptz) and ``users.billing_address`` (jsonb)
become TEXT holding AES-GCM ciphertext, as do the values (not the types) of
``users.phone`` and ``users.tax_id``. Rows that already hold personal data are
encrypted here, under the keyring the host configured before migrating
(``paykit.security.configure_encryption``); with such rows and no keyring the
migration stops with a ``ConfigurationError`` and changes nothing. Downgrade
decrypts the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import paykit.models.types
from paykit.errors import ConfigurationError
from paykit.models.types import EncryptedDateTime, EncryptedJSON, EncryptedText, UTCDateTime
from paykit.security.encryption import current_keyring

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("phone", "date_of_birth", "tax_id", "billing_address")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The users table as each side of this revision reads and writes it.
_plain = sa.table(
    "users",
    sa.column("id", sa.Text()),
    sa.column("phone", sa.Text()),
    sa.column("date_of_birth", UTCDateTime()),
    sa.column("tax_id", sa.Text()),
    sa.column("billing_address", _JSON),
)
_encrypted = sa.table(
    "users",
    sa.column("id", sa.Text()),
    sa.column("phone", EncryptedText("users.phone")),
    sa.column("date_of_birth", EncryptedDateTime("users.date_of_birth")),
    sa.column("tax_id", EncryptedText("users.tax_id")),
    sa.column("billing_address", EncryptedJSON("users.billing_address")),
)


def _rows_with_personal_data(table: sa.TableClause) -> list[dict[str, Any]]:
    bind = op.get_bind()
    has_data = sa.or_(*(table.c[name].is_not(None) for name in _COLUMNS))
    count = bind.scalar(sa.select(sa.func.count()).select_from(table).where(has_data)) or 0
    if count and current_keyring() is None:
        raise ConfigurationError(
            f"{count} users hold personal data that paykit 0004 encrypts (or decrypts on "
            "downgrade): call paykit.security.configure_encryption(Keyring(...)) before "
            "migrating",
            code="encryption_not_configured",
        )
    return [dict(row._mapping) for row in bind.execute(sa.select(table).where(has_data))]


def _retype(column: str, new_type: sa.types.TypeEngine[Any], sqlite_type: str, using: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: recreating "users" would DROP it, and with foreign
        # keys on that cascades into sessions and payment methods. The column
        # is all NULL here, so drop and re-add it (SQLite >= 3.35).
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
        op.execute(f"ALTER TABLE users ADD COLUMN {column} {sqlite_type}")
    else:
        op.alter_column(
            "users", column, type_=new_type, existing_nullable=True, postgresql_using=using
        )


def _write(table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    bind = op.get_bind()
    for row in rows:
        values = {name: row[name] for name in _COLUMNS}
        bind.execute(sa.update(table).where(table.c.id == row["id"]).values(**values))


def upgrade() -> None:
    op.create_table(
        "paykit_user_tokens",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_paykit_user_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paykit_user_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_paykit_user_tokens_token_hash")),
    )
    op.create_index(
        "ix_paykit_user_tokens_user_id", "paykit_user_tokens", ["user_id"], unique=False
    )
    rows = _rows_with_personal_data(_plain)
    op.execute(sa.update(_plain).values(date_of_birth=None, billing_address=None))
    _retype("date_of_birth", sa.Text(), "TEXT", "date_of_birth::text")
    _retype("billing_address", sa.Text(), "TEXT", "billing_address::text")
    _write(_encrypted, rows)


def downgrade() -> None:
    rows = _rows_with_personal_data(_encrypted)
    op.execute(
        sa.update(_plain).values(phone=None, date_of_birth=None, tax_id=None, billing_address=None)
    )
    _retype(
        "billing_address",
        postgresql.JSONB(astext_type=sa.Text()),
        "JSON",
        "billing_address::jsonb",
    )
    _retype(
        "date_of_birth",
        postgresql.TIMESTAMP(timezone=True),
        "DATETIME",
        "date_of_birth::timestamptz",
    )
    _write(_plain, rows)
    op.drop_index("ix_paykit_user_tokens_user_id", table_name="paykit_user_tokens")
    op.drop_table("paykit_user_tokens")
