"""Analytics rollup: indexes for a day's payments and refunds

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 03:30:00.000000

The daily rollup (``paykit.analytics.rollup``) reads one UTC day of paid orders
(``completed_at``), paid invoices (``paid_at``) and refunds (``processed_at``),
and asks whether a customer paid before that day (``user_id, completed_at``).
Without these indexes each day is a scan of the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_completed_at", "orders", ["completed_at"])
    op.create_index("ix_orders_user_id_completed_at", "orders", ["user_id", "completed_at"])
    op.create_index("ix_invoices_paid_at", "invoices", ["paid_at"])
    op.create_index("ix_refunds_processed_at", "refunds", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_processed_at", table_name="refunds")
    op.drop_index("ix_invoices_paid_at", table_name="invoices")
    op.drop_index("ix_orders_user_id_completed_at", table_name="orders")
    op.drop_index("ix_orders_completed_at", table_name="orders")
