"""Payment methods, invoices, checkout sessions: card expiry, invoice details and lines

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:40:00.000000

``payment_methods.expires_at`` is the first instant after the card's expiry
month (indexed, for expiring-card reports). ``invoices`` gains ``discount``,
``hosted_invoice_url`` and ``invoice_pdf``; ``invoice_lines`` holds each
invoice's lines as the gateway billed them (row-level security as
``invoices``: see ``paykit.security.rls``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_methods") as batch:
        batch.add_column(
            sa.Column("expires_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_payment_methods_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column(
                "discount",
                paykit.models.types.ExactDecimal(precision=10, scale=2),
                server_default="0",
                nullable=False,
            )
        )
        batch.add_column(sa.Column("hosted_invoice_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("invoice_pdf", sa.Text(), nullable=True))
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("stripe_line_id", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("stripe_price_id", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column("proration", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("period_start", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id", "stripe_line_id", name=op.f("uq_invoice_lines_invoice_id_stripe_line_id")
        ),
    )
    op.create_index(
        "ix_invoice_lines_invoice_id", "invoice_lines", ["invoice_id", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_lines_invoice_id", table_name="invoice_lines")
    op.drop_table("invoice_lines")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("invoice_pdf")
        batch.drop_column("hosted_invoice_url")
        batch.drop_column("discount")
    with op.batch_alter_table("payment_methods") as batch:
        batch.drop_index("ix_payment_methods_expires_at")
        batch.drop_column("expires_at")
