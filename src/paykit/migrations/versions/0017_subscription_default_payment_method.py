"""Subscriptions: the gateway payment method the subscription's renewals charge first

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 12:30:00.000000

``subscriptions.default_payment_method_id`` (nullable text) holds the gateway's
id of the subscription's own payment method (Stripe's ``default_payment_method``
on the subscription, ``pm_...``), or NULL when renewals charge the customer's
default. Like the other gateway ids (``stripe_subscription_id``, ...) it is
text, and it has no foreign key: it is the gateway's id, not a
``payment_methods`` row, and a method set at the gateway may not be synced into
``payment_methods`` yet. ``sync_subscription`` keeps it (docs/subscriptions.md);
rows of an older revision start NULL and are filled by their next sync.

On SQLite both directions are plain ``ALTER TABLE`` statements (no table copy:
``subscriptions`` has children, and a copy would drop and rename the parent
under them); a SQLite older than 3.35, which has no ``DROP COLUMN``, gets
Alembic's table copy on downgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMN = "default_payment_method_id"


def upgrade() -> None:
    """Add the nullable ``subscriptions.default_payment_method_id``."""
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column(_COLUMN, sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``subscriptions.default_payment_method_id``."""
    native = op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35)
    with op.batch_alter_table("subscriptions", recreate="never" if native else "auto") as batch:
        batch.drop_column(_COLUMN)
