"""Order management (seed: Order, OrderItem)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import currency_column, enum, metadata_column, money, reference
from paykit.models.base import Base, CreatedAtMixin, TimestampMixin, id_column
from paykit.models.enums import OrderStatus, PaymentStatus
from paykit.models.types import JSONDocument, UTCDateTime

if TYPE_CHECKING:
    from paykit.models.catalog import Price, Product
    from paykit.models.refunds import Refund
    from paykit.models.users import User

__all__ = ["OPEN_ORDER", "PAID_PAYMENT", "Order", "OrderItem"]

#: The states of an order that may still be paid or cancelled.
OPEN_ORDER = (OrderStatus.PENDING, OrderStatus.PROCESSING)
#: The payment states of an order whose money arrived (a refund does not undo that).
PAID_PAYMENT = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


class Order(TimestampMixin, Base):
    """A customer's order: amounts, addresses, payment state (table ``orders``)."""

    __tablename__ = "orders"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = reference("users.id", "RESTRICT")
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.Text(), unique=True)
    order_number: Mapped[str] = mapped_column(sa.Text(), unique=True)
    status: Mapped[OrderStatus] = mapped_column(
        enum(OrderStatus, "order_status"), default=OrderStatus.PENDING, server_default="PENDING"
    )
    currency: Mapped[str] = currency_column()
    subtotal: Mapped[Decimal] = mapped_column(money())
    tax_amount: Mapped[Decimal] = mapped_column(
        money(), default=Decimal("0.00"), server_default="0"
    )
    discount_amount: Mapped[Decimal] = mapped_column(
        money(), default=Decimal("0.00"), server_default="0"
    )
    total_amount: Mapped[Decimal] = mapped_column(money())
    billing_address: Mapped[Any] = mapped_column(JSONDocument)
    shipping_address: Mapped[Any | None] = mapped_column(JSONDocument)
    payment_status: Mapped[PaymentStatus] = mapped_column(
        enum(PaymentStatus, "payment_status"),
        default=PaymentStatus.PENDING,
        server_default="PENDING",
    )
    payment_method: Mapped[str | None] = mapped_column(sa.Text())
    refunded_amount: Mapped[Decimal] = mapped_column(
        money(), default=Decimal("0.00"), server_default="0"
    )
    notes: Mapped[str | None] = mapped_column(sa.Text())
    internal_notes: Mapped[str | None] = mapped_column(sa.Text())
    metadata_: Mapped[Any] = metadata_column()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OrderItem.id",
    )
    refunds: Mapped[list[Refund]] = relationship(back_populates="order", passive_deletes="all")

    __table_args__ = (
        sa.CheckConstraint("total_amount >= 0", name=sa.sql.elements.conv("check_positive_total")),
        sa.Index("idx_orders_status_created_at", "status", "created_at"),
        # Staff order history, newest first, keyset on (created_at, id): revision 0008.
        sa.Index("ix_orders_created_at_id", "created_at", "id"),
        # The analytics rollup: a day's paid orders, a customer's earlier ones (0015).
        sa.Index("ix_orders_completed_at", "completed_at"),
        sa.Index("ix_orders_user_id_completed_at", "user_id", "completed_at"),
    )

    def __repr__(self) -> str:
        return (
            f"Order(id={self.id!r}, number={self.order_number!r}, status={self.status!r}, "
            f"total={self.total_amount!r} {self.currency})"
        )


# Built outside the class body: a DESC column needs the mapped column object.
sa.Index("idx_orders_user_id_created_at", Order.user_id, Order.created_at.desc())


class OrderItem(CreatedAtMixin, Base):
    """One line of an order (table ``order_items``)."""

    __tablename__ = "order_items"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = reference("orders.id", "CASCADE")
    product_id: Mapped[str] = reference("products.id", "RESTRICT")
    price_id: Mapped[str] = reference("prices.id", "RESTRICT")
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    unit_price: Mapped[Decimal] = mapped_column(money())
    total_price: Mapped[Decimal] = mapped_column(money())
    download_count: Mapped[int] = mapped_column(default=0, server_default="0")
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(back_populates="order_items")
    price: Mapped[Price] = relationship(back_populates="order_items")

    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name=sa.sql.elements.conv("check_positive_quantity")),
        sa.Index("ix_order_items_order_id", "order_id"),
    )

    def __repr__(self) -> str:
        return f"OrderItem(id={self.id!r}, quantity={self.quantity!r})"
