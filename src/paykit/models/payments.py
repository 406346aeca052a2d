"""Saved payment methods (seed: PaymentMethod)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import reference
from paykit.models.base import Base, TimestampMixin, id_column
from paykit.models.types import JSONDocument, UTCDateTime

if TYPE_CHECKING:
    from paykit.models.users import User

__all__ = ["PaymentMethod"]


class PaymentMethod(TimestampMixin, Base):
    """A customer's saved payment method; card details are Stripe's display data only."""

    __tablename__ = "payment_methods"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = reference("users.id", "CASCADE")
    stripe_payment_method_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    type: Mapped[str] = mapped_column(sa.Text())
    card: Mapped[Any | None] = mapped_column(JSONDocument)
    billing_details: Mapped[Any | None] = mapped_column(JSONDocument)
    is_default: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Not in the seed (docs/billing.md): the first instant after the card's
    # expiry month, so "expiring soon" is one indexed range query.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="payment_methods")

    __table_args__ = (
        sa.Index("ix_payment_methods_user_id", "user_id"),
        sa.Index("ix_payment_methods_expires_at", "expires_at"),
    )

    def __repr__(self) -> str:
        return f"PaymentMethod(id={self.id!r}, type={self.type!r})"
