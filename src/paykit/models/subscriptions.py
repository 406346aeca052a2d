"""Subscription management (seed: Subscription, Invoice)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import currency_column, enum, metadata_column, money, reference
from paykit.models.base import Base, TimestampMixin, id_column
from paykit.models.enums import InvoiceStatus, SubscriptionStatus
from paykit.models.types import UTCDateTime

if TYPE_CHECKING:
    from paykit.models.catalog import Price, Product
    from paykit.models.users import User

__all__ = ["Invoice", "Subscription", "SubscriptionItem"]


class Subscription(TimestampMixin, Base):
    """A customer's recurring subscription, mirrored from the gateway."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = reference("users.id", "RESTRICT")
    product_id: Mapped[str] = reference("products.id", "RESTRICT")
    price_id: Mapped[str] = reference("prices.id", "RESTRICT")
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
    currency: Mapped[str] = currency_column()
    unit_amount: Mapped[Decimal] = mapped_column(money())
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    metadata_: Mapped[Any] = metadata_column()
    # Not in the seed (docs/schema.md): the gateway time of the newest event
    # applied, so an older, late delivery never overwrites a newer state.
    stripe_event_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not in the seed (docs/schema.md, migration 0013): why it was cancelled
    # (Stripe's cancellation_details), what a trial without a payment method
    # does when it ends, dunning state, and a change scheduled for period end.
    cancellation_reason: Mapped[str | None] = mapped_column(sa.Text())
    cancellation_feedback: Mapped[str | None] = mapped_column(sa.Text())
    cancellation_comment: Mapped[str | None] = mapped_column(sa.Text())
    trial_end_behavior: Mapped[str | None] = mapped_column(sa.Text())
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_payment_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pending_price_id: Mapped[str | None] = reference("prices.id", "RESTRICT")
    pending_quantity: Mapped[int | None] = mapped_column()
    pending_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Net of the prorations waiting for the next invoice (create_prorations).
    pending_proration: Mapped[Decimal] = mapped_column(
        money(), default=Decimal("0.00"), server_default="0"
    )
    # Not in the seed (docs/schema.md, migration 0017): the gateway's id of the
    # subscription's own payment method (renewals charge it before the
    # customer's default), as synced; no foreign key (docs/subscriptions.md).
    default_payment_method_id: Mapped[str | None] = mapped_column(sa.Text())

    user: Mapped[User] = relationship(back_populates="subscriptions")
    product: Mapped[Product] = relationship(back_populates="subscriptions")
    price: Mapped[Price] = relationship(back_populates="subscriptions", foreign_keys=[price_id])
    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription", passive_deletes=True, order_by="SubscriptionItem.created_at"
    )
    invoices: Mapped[list[Invoice]] = relationship(
        back_populates="subscription", passive_deletes="all"
    )

    __table_args__ = (
        sa.Index("idx_subscriptions_user_id", "user_id"),
        sa.Index("idx_subscriptions_status", "status"),
        sa.Index("idx_subscriptions_current_period_end", "current_period_end"),
        sa.Index("ix_subscriptions_past_due_since", "past_due_since"),
        sa.CheckConstraint("payment_attempts >= 0", name="payment_attempts_not_negative"),
        sa.CheckConstraint(
            "pending_quantity IS NULL OR pending_quantity >= 1", name="pending_quantity_positive"
        ),
    )

    def __repr__(self) -> str:
        return f"Subscription(id={self.id!r}, status={self.status!r})"


class Invoice(TimestampMixin, Base):
    """An invoice of a subscription, mirrored from the gateway."""

    __tablename__ = "invoices"

    id: Mapped[str] = id_column()
    subscription_id: Mapped[str] = reference("subscriptions.id", "RESTRICT")
    stripe_invoice_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    number: Mapped[str] = mapped_column(sa.Text(), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(enum(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = currency_column()
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

    __table_args__ = (
        sa.Index("ix_invoices_subscription_id", "subscription_id"),
        # The analytics rollup's day ranges: revision 0015.
        sa.Index("ix_invoices_paid_at", "paid_at"),
    )

    def __repr__(self) -> str:
        return f"Invoice(id={self.id!r}, number={self.number!r}, status={self.status!r})"


class SubscriptionItem(TimestampMixin, Base):
    """One price times a quantity (seats) of a subscription (not in the seed; migration 0013).

    The subscription's own ``price_id``/``quantity`` stay those of its first
    item, as before; a per-seat plan has one item whose ``quantity`` is the seats.
    """

    __tablename__ = "subscription_items"

    id: Mapped[str] = id_column()
    subscription_id: Mapped[str] = reference("subscriptions.id", "CASCADE")
    price_id: Mapped[str] = reference("prices.id", "RESTRICT")
    stripe_subscription_item_id: Mapped[str | None] = mapped_column(sa.Text(), unique=True)
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    unit_amount: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = currency_column()

    subscription: Mapped[Subscription] = relationship(back_populates="items")

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "price_id"),
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        sa.CheckConstraint("unit_amount >= 0", name="unit_amount_not_negative"),
    )

    def __repr__(self) -> str:
        return f"SubscriptionItem(id={self.id!r}, quantity={self.quantity!r})"
