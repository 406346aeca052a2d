"""Stripe: the webhook inbox, and the newest applied event time on subscriptions and invoices

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:26:40.029989
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import paykit.models.types

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paykit_webhook_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=True),
        sa.Column("api_version", sa.Text(), nullable=True),
        sa.Column("livemode", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "event_created_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("processed_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'ignored', 'failed')",
            name=op.f("ck_paykit_webhook_events_status_values"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paykit_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_paykit_webhook_events_event_id")),
    )
    op.create_index(
        "ix_paykit_webhook_events_object_id", "paykit_webhook_events", ["object_id"], unique=False
    )
    op.create_index(
        "ix_paykit_webhook_events_status_event_created_at",
        "paykit_webhook_events",
        ["status", "event_created_at"],
        unique=False,
    )
    for table in ("invoices", "subscriptions"):
        # batch mode: SQLite cannot drop the column again without it.
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "stripe_event_created_at",
                    paykit.models.types.UTCDateTime(timezone=True),
                    nullable=True,
                )
            )


def downgrade() -> None:
    for table in ("subscriptions", "invoices"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("stripe_event_created_at")
    op.drop_index(
        "ix_paykit_webhook_events_status_event_created_at", table_name="paykit_webhook_events"
    )
    op.drop_index("ix_paykit_webhook_events_object_id", table_name="paykit_webhook_events")
    op.drop_table("paykit_webhook_events")
