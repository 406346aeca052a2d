"""Reviews: moderation and one helpful vote per user; an index for staff order history

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 20:00:00.000000

``product_reviews.helpful`` stays the seed's counter; every vote is now also a
row, so a user votes once. Existing counters are kept as they are: votes cast
before this revision have no rows.

``ix_orders_created_at_id`` serves the staff order listing (every customer,
newest first, keyset on ``(created_at, id)``), which otherwise sorts the
whole ``orders`` table for each page.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product_reviews") as batch:
        batch.add_column(
            sa.Column("hidden_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_check_constraint(
            op.f("ck_product_reviews_helpful_not_negative"), "helpful >= 0"
        )
        batch.create_index(
            "ix_product_reviews_product_id_created_at",
            ["product_id", "created_at", "id"],
            unique=False,
        )
    op.create_table(
        "paykit_review_votes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("review_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("created_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["product_reviews.id"],
            name=op.f("fk_paykit_review_votes_review_id_product_reviews"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_paykit_review_votes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paykit_review_votes")),
        sa.UniqueConstraint(
            "review_id", "user_id", name=op.f("uq_paykit_review_votes_review_id_user_id")
        ),
    )
    op.create_index(
        "ix_paykit_review_votes_user_id", "paykit_review_votes", ["user_id"], unique=False
    )
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_created_at_id", table_name="orders")
    op.drop_index("ix_paykit_review_votes_user_id", table_name="paykit_review_votes")
    op.drop_table("paykit_review_votes")
    with op.batch_alter_table("product_reviews") as batch:
        batch.drop_index("ix_product_reviews_product_id_created_at")
        batch.drop_constraint(op.f("ck_product_reviews_helpful_not_negative"), type_="check")
        batch.drop_column("hidden_at")
