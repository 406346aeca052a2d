"""The lines of an invoice (not in the seed; see docs/billing.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models._columns import currency_column, money, reference
from paykit.models.base import Base, CreatedAtMixin, id_column
from paykit.models.types import UTCDateTime

__all__ = ["InvoiceLine"]


class InvoiceLine(CreatedAtMixin, Base):
    """One line of an invoice, mirrored from the gateway: what was billed, for which period.

    ``amount`` is the line's total before invoice-level discounts and tax (a
    proration credit is negative). Lines are replaced as a whole whenever the
    invoice is synced, so they always match the invoice they belong to.
    """

    __tablename__ = "invoice_lines"

    id: Mapped[str] = id_column()
    invoice_id: Mapped[str] = reference("invoices.id", "CASCADE")
    stripe_line_id: Mapped[str] = mapped_column(sa.Text())
    description: Mapped[str | None] = mapped_column(sa.Text())
    stripe_price_id: Mapped[str | None] = mapped_column(sa.Text())
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    amount: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = currency_column()
    proration: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    position: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "stripe_line_id"),
        sa.Index("ix_invoice_lines_invoice_id", "invoice_id", "position"),
    )

    def __repr__(self) -> str:
        return f"InvoiceLine(id={self.id!r}, amount={self.amount!r})"
