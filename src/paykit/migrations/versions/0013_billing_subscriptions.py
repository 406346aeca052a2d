"""Subscriptions: cancellation details, trial end behaviour, dunning state, scheduled change, items

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 23:40:00.000000

``subscriptions`` gains Stripe's ``cancellation_details`` (reason, feedback,
comment), ``trial_end_behavior`` (what a trial without a payment method does
when it ends: ``cancel``, ``pause`` or ``create_invoice``), the dunning state
(``past_due_since``, ``payment_attempts``, ``next_payment_attempt_at``) and a
change scheduled for the period's end (``pending_price_id``,
``pending_quantity``, ``pending_change_at``) and the net of prorations waiting for the next invoice
(``pending_proration``). ``subscription_items`` holds each price times a
quantity (seats) of a subscription; row-level security treats it as a child
of ``subscriptions`` (``paykit.security.rls``, re-applied by ``migrate``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT_COLUMNS = (
    "cancellation_reason",
    "cancellation_feedback",
    "cancellation_comment",
    "trial_end_behavior",
)


def upgrade() -> None:
    """Add the subscription columns and create ``subscription_items``."""
    with op.batch_alter_table("subscriptions") as batch:
        for name in _TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "past_due_since", paykit.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(
            sa.Column("payment_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "next_payment_attempt_at",
                paykit.models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("pending_price_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pending_quantity", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "pending_change_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(
            sa.Column(
                "pending_proration",
                paykit.models.types.ExactDecimal(precision=10, scale=2),
                server_default="0",
                nullable=False,
            )
        )
        batch.create_foreign_key(
            op.f("fk_subscriptions_pending_price_id_prices"),
            "prices",
            ["pending_price_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_check_constraint(
            op.f("ck_subscriptions_payment_attempts_not_negative"), "payment_attempts >= 0"
        )
        batch.create_check_constraint(
            op.f("ck_subscriptions_pending_quantity_positive"),
            "pending_quantity IS NULL OR pending_quantity >= 1",
        )
        batch.create_index("ix_subscriptions_past_due_since", ["past_due_since"], unique=False)
    op.create_table(
        "subscription_items",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Text(), nullable=False),
        sa.Column("stripe_subscription_item_id", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "unit_amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_subscription_items_quantity_positive")),
        sa.CheckConstraint(
            "unit_amount >= 0", name=op.f("ck_subscription_items_unit_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["price_id"],
            ["prices.id"],
            name=op.f("fk_subscription_items_price_id_prices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_items_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_items")),
        sa.UniqueConstraint(
            "stripe_subscription_item_id",
            name=op.f("uq_subscription_items_stripe_subscription_item_id"),
        ),
        sa.UniqueConstraint(
            "subscription_id",
            "price_id",
            name=op.f("uq_subscription_items_subscription_id_price_id"),
        ),
    )


def downgrade() -> None:
    """Drop ``subscription_items`` and the added subscription columns."""
    op.drop_table("subscription_items")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("ix_subscriptions_past_due_since")
        batch.drop_constraint(op.f("ck_subscriptions_pending_quantity_positive"), type_="check")
        batch.drop_constraint(op.f("ck_subscriptions_payment_attempts_not_negative"), type_="check")
        batch.drop_constraint(op.f("fk_subscriptions_pending_price_id_prices"), type_="foreignkey")
        for name in (
            "pending_proration",
            "pending_change_at",
            "pending_quantity",
            "pending_price_id",
            "next_payment_attempt_at",
            "payment_attempts",
            "past_due_since",
            *reversed(_TEXT_COLUMNS),
        ):
            batch.drop_column(name)
