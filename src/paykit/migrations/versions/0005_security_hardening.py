"""Security hardening: login throttling counters, idempotency keys owned by a user

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 16:55:00.000000

``paykit_login_attempts`` counts failed logins per e-mail and per IP address
(hashed) for login throttling. ``paykit_idempotency_keys.user_id`` records the
customer a keyed call acted for, so row-level security can give each customer
their own keys; existing keys are attributed through the order, refund or
subscription they produced. Row-level security itself stays opt-in
(``paykit.security.rls``); :func:`paykit.migrate` re-applies the current
policies after upgrading a database that has it on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Which table a scope's resource_id names, and how to reach its customer.
_OWNER_OF_RESOURCE = {
    "place_order": "SELECT o.user_id FROM orders o WHERE o.id = k.resource_id",
    "subscribe": "SELECT s.user_id FROM subscriptions s WHERE s.id = k.resource_id",
    "issue_refund": "SELECT o.user_id FROM refunds r JOIN orders o ON o.id = r.order_id"
    " WHERE r.id = k.resource_id",
}


def upgrade() -> None:
    op.create_table(
        "paykit_login_attempts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "window_started_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_paykit_login_attempts_attempts_not_negative")
        ),
        sa.CheckConstraint(
            "scope IN ('email', 'ip')", name=op.f("ck_paykit_login_attempts_scope_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paykit_login_attempts")),
        sa.UniqueConstraint(
            "scope", "subject", name=op.f("uq_paykit_login_attempts_scope_subject")
        ),
    )
    op.create_index(
        "ix_paykit_login_attempts_window_started_at",
        "paykit_login_attempts",
        ["window_started_at"],
        unique=False,
    )
    # batch mode: SQLite adds a foreign key only by recreating the table.
    with op.batch_alter_table("paykit_idempotency_keys") as batch:
        batch.add_column(sa.Column("user_id", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_paykit_idempotency_keys_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_paykit_idempotency_keys_user_id", ["user_id"], unique=False)
    for scope, owner in _OWNER_OF_RESOURCE.items():
        op.execute(
            sa.text(
                f"UPDATE paykit_idempotency_keys AS k SET user_id = ({owner})"
                " WHERE k.scope = :scope AND k.user_id IS NULL"
            ).bindparams(scope=scope)
        )


def downgrade() -> None:
    with op.batch_alter_table("paykit_idempotency_keys") as batch:
        batch.drop_index("ix_paykit_idempotency_keys_user_id")
        batch.drop_constraint(op.f("fk_paykit_idempotency_keys_user_id_users"), type_="foreignkey")
        batch.drop_column("user_id")
    op.drop_index("ix_paykit_login_attempts_window_started_at", table_name="paykit_login_attempts")
    op.drop_table("paykit_login_attempts")
