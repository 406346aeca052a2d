"""Discounts and promotions (seed: Discount, ProductDiscount, DiscountUsage)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import currency_column, enum, money, reference
from paykit.models.base import Base, CreatedAtMixin, TimestampMixin, id_column
from paykit.models.enums import DiscountType
from paykit.models.types import UTCDateTime

if TYPE_CHECKING:
    from paykit.models.catalog import Product
    from paykit.models.users import User

__all__ = ["Discount", "DiscountUsage", "ProductDiscount", "code_matches"]


class Discount(TimestampMixin, Base):
    """A discount code: a percentage or a fixed amount, with limits and a validity window."""

    __tablename__ = "discounts"

    id: Mapped[str] = id_column()
    code: Mapped[str] = mapped_column(sa.Text(), unique=True)
    name: Mapped[str] = mapped_column(sa.Text())
    description: Mapped[str | None] = mapped_column(sa.Text())
    type: Mapped[DiscountType] = mapped_column(enum(DiscountType, "discount_type"))
    value: Mapped[Decimal] = mapped_column(money(10, 4))
    currency: Mapped[str | None] = currency_column()
    max_uses: Mapped[int | None] = mapped_column()
    max_uses_per_customer: Mapped[int | None] = mapped_column()
    current_uses: Mapped[int] = mapped_column(default=0, server_default="0")
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minimum_amount: Mapped[Decimal | None] = mapped_column(money())
    first_time_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    product_discounts: Mapped[list[ProductDiscount]] = relationship(
        back_populates="discount", cascade="all, delete-orphan", passive_deletes=True
    )
    usages: Mapped[list[DiscountUsage]] = relationship(
        back_populates="discount", passive_deletes="all"
    )

    __table_args__ = (
        sa.CheckConstraint(
            "(type = 'PERCENTAGE' AND value > 0 AND value <= 100) OR "
            "(type = 'FIXED_AMOUNT' AND value > 0)",
            name=sa.sql.elements.conv("check_discount_percentage"),
        ).ddl_if(dialect="postgresql"),
        # On SQLite a (10, 4) column stores 10**4 units per 1 (see ExactDecimal).
        sa.CheckConstraint(
            "(type = 'PERCENTAGE' AND value > 0 AND value <= 1000000) OR "
            "(type = 'FIXED_AMOUNT' AND value > 0)",
            name=sa.sql.elements.conv("check_discount_percentage"),
        ).ddl_if(dialect="sqlite"),
        # A counter that guards money: the database refuses to overspend it.
        sa.CheckConstraint(
            "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
            name="uses_within_limit",
        ),
    )

    def __repr__(self) -> str:
        return f"Discount(id={self.id!r}, code={self.code!r}, type={self.type!r})"


# Codes are kept as typed but are one code whatever the case, as Stripe's
# promotion codes are: unique on lower(code), and looked up the same way
# (code_matches), so the lookup uses this index. The seed's unique constraint
# on code stays (docs/schema.md).
sa.Index("uq_discounts_lower_code", sa.func.lower(Discount.__table__.c.code), unique=True)


def code_matches(code: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """The condition "this discount's code is ``code``, ignoring case" (docs/pricing.md)."""
    return sa.func.lower(Discount.code) == sa.func.lower(code)


class ProductDiscount(CreatedAtMixin, Base):
    """Restricts a discount to a product; a discount with none applies to whole orders."""

    __tablename__ = "product_discounts"

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = reference("products.id", "CASCADE")
    discount_id: Mapped[str] = reference("discounts.id", "CASCADE")

    product: Mapped[Product] = relationship(back_populates="discounts")
    discount: Mapped[Discount] = relationship(back_populates="product_discounts")

    __table_args__ = (
        sa.UniqueConstraint("product_id", "discount_id"),
        sa.Index("ix_product_discounts_discount_id", "discount_id"),
    )

    def __repr__(self) -> str:
        return f"ProductDiscount(product_id={self.product_id!r}, discount_id={self.discount_id!r})"


class DiscountUsage(CreatedAtMixin, Base):
    """One use of a discount by a customer, with the amount it saved."""

    __tablename__ = "discount_usages"

    id: Mapped[str] = id_column()
    discount_id: Mapped[str] = reference("discounts.id", "RESTRICT")
    user_id: Mapped[str] = reference("users.id", "RESTRICT")
    order_id: Mapped[str | None] = reference("orders.id", "SET NULL")
    amount_saved: Mapped[Decimal] = mapped_column(money())

    discount: Mapped[Discount] = relationship(back_populates="usages")
    user: Mapped[User] = relationship(back_populates="discount_usages")

    __table_args__ = (
        sa.Index("ix_discount_usages_discount_id_user_id", "discount_id", "user_id"),
        sa.Index("ix_discount_usages_order_id", "order_id"),
    )

    def __repr__(self) -> str:
        return f"DiscountUsage(id={self.id!r}, amount_saved={self.amount_saved!r})"
