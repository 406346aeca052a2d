"""Refund management (seed: Refund)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import currency_column, enum, metadata_column, money, reference
from paykit.models.base import Base, TimestampMixin, id_column
from paykit.models.enums import RefundReason, RefundStatus
from paykit.models.types import UTCDateTime

if TYPE_CHECKING:
    from paykit.models.orders import Order

__all__ = ["Refund"]


class Refund(TimestampMixin, Base):
    """Money returned to a customer for an order, mirrored from the gateway."""

    __tablename__ = "refunds"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = reference("orders.id", "RESTRICT")
    stripe_refund_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    amount: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = currency_column()
    reason: Mapped[RefundReason] = mapped_column(enum(RefundReason, "refund_reason"))
    status: Mapped[RefundStatus] = mapped_column(enum(RefundStatus, "refund_status"))
    notes: Mapped[str | None] = mapped_column(sa.Text())
    metadata_: Mapped[Any] = metadata_column()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="refunds")

    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="positive_amount"),
        sa.Index("ix_refunds_order_id", "order_id"),
        # The analytics rollup's day ranges: revision 0015.
        sa.Index("ix_refunds_processed_at", "processed_at"),
    )

    def __repr__(self) -> str:
        return f"Refund(id={self.id!r}, amount={self.amount!r}, status={self.status!r})"
