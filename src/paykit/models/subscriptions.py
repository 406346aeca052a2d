"""Subscription management (seed: Subscription, Invoice)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import enum, fk, money
from paykit.models.base import Base, TimestampMixin, id_column
from paykit.models.enums import InvoiceStatus, SubscriptionStatus
from paykit.models.types import JSONDocument, UTCDateTime

if TYPE_CHECKING:
    from paykit.models.catalog import Price, Product
    from paykit.models.users import User

__all__ = ["Invoice", "Subscription"]


class Subscription(TimestampMixin, Base):
    """A customer's recurring subscription, mirrored from the gateway."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(sa.Text(), fk("users.id", "RESTRICT"))
    product_id: Mapped[str] = mapped_column(sa.Text(), fk("products.id", "RESTRICT"))
    price_id: Mapped[str] = mapped_column(sa.Text(), fk("prices.id", "RESTRICT"))
    stripe_subscription_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum(SubscriptionStatus, "subscription_status")
    )
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(sa.Text(), default="USD", server_default="USD")
    unit_amount: Mapped[Decimal] = mapped_column(money())
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    metadata_: Mapped[Any] = mapped_column(
        "metadata", JSONDocument, default=dict, server_default="{}"
    )
    # Not in the seed (docs/schema.md): the gateway time of the newest event
    # applied, so an older, late delivery never overwrites a newer state.
    stripe_event_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="subscriptions")
    product: Mapped[Product] = relationship(back_populates="subscriptions")
    price: Mapped[Price] = relationship(back_populates="subscriptions")
    invoices: Mapped[list[Invoice]] = relationship(
        back_populates="subscription", passive_deletes="all"
    )

    __table_args__ = (
        sa.Index("idx_subscriptions_user_id", "user_id"),
        sa.Index("idx_subscriptions_status", "status"),
        sa.Index("idx_subscriptions_current_period_end", "current_period_end"),
    )

    def __repr__(self) -> str:
        return f"Subscription(id={self.id!r}, status={self.status!r})"


class Invoice(TimestampMixin, Base):
    """An invoice of a subscription, mirrored from the gateway."""

    __tablename__ = "invoices"

    id: Mapped[str] = id_column()
    subscription_id: Mapped[str] = mapped_column(sa.Text(), fk("subscriptions.id", "RESTRICT"))
    stripe_invoice_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    number: Mapped[str] = mapped_column(sa.Text(), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(enum(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = mapped_column(sa.Text(), default="USD", server_default="USD")
    subtotal: Mapped[Decimal] = mapped_column(money())
    tax: Mapped[Decimal] = mapped_column(money(), default=Decimal("0.00"), server_default="0")
    total: Mapped[Decimal] = mapped_column(money())
    amount_paid: Mapped[Decimal] = mapped_column(
        money(), default=Decimal("0.00"), server_default="0"
    )
    amount_due: Mapped[Decimal] = mapped_column(money())
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not in the seed (docs/schema.md): as on Subscription, the newest event applied.
    stripe_event_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not in the seed (docs/billing.md): the discounts' total and the gateway's
    # hosted page and PDF, so a host can show an invoice without calling Stripe.
    discount: Mapped[Decimal] = mapped_column(money(), default=Decimal("0.00"), server_default="0")
    hosted_invoice_url: Mapped[str | None] = mapped_column(sa.Text())
    invoice_pdf: Mapped[str | None] = mapped_column(sa.Text())

    subscription: Mapped[Subscription] = relationship(back_populates="invoices")

    __table_args__ = (sa.Index("ix_invoices_subscription_id", "subscription_id"),)

    def __repr__(self) -> str:
        return f"Invoice(id={self.id!r}, number={self.number!r}, status={self.status!r})"
