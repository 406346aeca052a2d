"""Analytics: an append-only MRR history of subscriptions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 23:40:00.000000

``subscription_mrr_history`` holds every state of a subscription's MRR
contribution with the instant it took effect (docs/analytics.md), so MRR at a
past instant can be computed after the fact. Subscriptions synced before this
revision have no rows until their next change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "subscription_mrr_history"


def upgrade() -> None:
    """Create ``subscription_mrr_history`` and its indexes."""
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("effective_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "monthly_amount",
            paykit.models.types.ExactDecimal(precision=15, scale=4),
            nullable=False,
        ),
        sa.Column("mrr", paykit.models.types.ExactDecimal(precision=15, scale=4), nullable=False),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_mrr_history_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscription_mrr_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_mrr_history")),
        sa.UniqueConstraint(
            "subscription_id",
            "effective_at",
            name=op.f("uq_subscription_mrr_history_subscription_id_effective_at"),
        ),
    )
    op.create_index(
        "ix_subscription_mrr_history_currency_effective_at",
        _TABLE,
        ["currency", "effective_at"],
        unique=False,
    )
    op.create_index("ix_subscription_mrr_history_user_id", _TABLE, ["user_id"], unique=False)


def downgrade() -> None:
    """Drop ``subscription_mrr_history``."""
    op.drop_index("ix_subscription_mrr_history_user_id", table_name=_TABLE)
    op.drop_index("ix_subscription_mrr_history_currency_effective_at", table_name=_TABLE)
    op.drop_table(_TABLE)
