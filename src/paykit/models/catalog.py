"""Product management (seed: Product, Price, ProductCategory, ProductReview).

The seed's implicit many-to-many between products and categories is the
association table ``product_category_links``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import currency_column, enum, fk, metadata_column, money, reference
from paykit.models.base import Base, TimestampMixin, id_column
from paykit.models.enums import PriceType, ProductStatus, ProductType
from paykit.models.types import JSONDocument, StringArray, UTCDateTime

if TYPE_CHECKING:
    from paykit.models.discounts import ProductDiscount
    from paykit.models.orders import OrderItem
    from paykit.models.subscriptions import Subscription
    from paykit.models.users import User

__all__ = [
    "Price",
    "Product",
    "ProductCategory",
    "ProductReview",
    "ReviewVote",
    "product_category_links",
    "product_search_document",
]

#: Products <-> categories (the seed's implicit ``Product.categories`` relation).
product_category_links = sa.Table(
    "product_category_links",
    Base.metadata,
    sa.Column("product_id", sa.Text(), fk("products.id", "CASCADE"), primary_key=True),
    sa.Column("category_id", sa.Text(), fk("product_categories.id", "CASCADE"), primary_key=True),
    sa.Index("ix_product_category_links_category_id", "category_id"),
)


class Product(TimestampMixin, Base):
    """Something for sale: one-time, subscription, digital download or service."""

    __tablename__ = "products"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.Text())
    description: Mapped[str] = mapped_column(sa.Text())
    short_description: Mapped[str | None] = mapped_column(sa.Text())
    slug: Mapped[str] = mapped_column(sa.Text(), unique=True)
    status: Mapped[ProductStatus] = mapped_column(
        enum(ProductStatus, "product_status"),
        default=ProductStatus.DRAFT,
        server_default="DRAFT",
    )
    type: Mapped[ProductType] = mapped_column(enum(ProductType, "product_type"))
    base_price: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = currency_column()
    tax_rate: Mapped[Decimal | None] = mapped_column(money(5, 4))
    download_url: Mapped[str | None] = mapped_column(sa.Text())
    download_limit: Mapped[int | None] = mapped_column(default=-1, server_default="-1")
    access_duration: Mapped[int | None] = mapped_column()
    billing_interval: Mapped[str | None] = mapped_column(sa.Text())
    trial_days: Mapped[int | None] = mapped_column(default=0, server_default="0")
    images: Mapped[Any] = mapped_column(JSONDocument, default=list, server_default="[]")
    files: Mapped[Any] = mapped_column(JSONDocument, default=list, server_default="[]")
    metadata_: Mapped[Any] = metadata_column()
    meta_title: Mapped[str | None] = mapped_column(sa.Text())
    meta_description: Mapped[str | None] = mapped_column(sa.Text())
    tags: Mapped[list[str]] = mapped_column(StringArray, default=list)
    featured: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    track_inventory: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    stock_quantity: Mapped[int] = mapped_column(default=0, server_default="0")
    low_stock_threshold: Mapped[int | None] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    prices: Mapped[list[Price]] = relationship(
        back_populates="product", cascade="all, delete-orphan", passive_deletes=True
    )
    order_items: Mapped[list[OrderItem]] = relationship(
        back_populates="product", passive_deletes="all"
    )
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="product", passive_deletes="all"
    )
    discounts: Mapped[list[ProductDiscount]] = relationship(
        back_populates="product", cascade="all, delete-orphan", passive_deletes=True
    )
    reviews: Mapped[list[ProductReview]] = relationship(
        back_populates="product", cascade="all, delete-orphan", passive_deletes=True
    )
    categories: Mapped[list[ProductCategory]] = relationship(
        secondary=product_category_links, back_populates="products", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint("base_price >= 0", name=sa.sql.elements.conv("check_positive_price")),
        sa.Index("idx_products_status_featured", "status", "featured"),
        sa.Index("idx_products_type_status", "type", "status"),
    )

    def __repr__(self) -> str:
        return f"Product(id={self.id!r}, slug={self.slug!r})"


# The catalog's sort orders (migration 0007): the seed's catalog page (featured,
# newest first), newest first, and by price, each with the id as tie-breaker so
# keyset pagination reads the index in order.
_products = Product.__table__.c
sa.Index(
    "idx_products_catalog_order",
    _products.status,
    _products.featured.desc(),
    _products.created_at.desc(),
    _products.id.desc(),
)
sa.Index(
    "idx_products_status_created_at",
    _products.status,
    _products.created_at.desc(),
    _products.id.desc(),
)
sa.Index("idx_products_status_base_price", _products.status, _products.base_price, _products.id)


def product_search_document() -> sa.ColumnElement[Any]:
    """PostgreSQL's weighted ``tsvector`` of a product (name A, short description B, description C).

    The GIN index ``idx_products_search`` is built on exactly this expression,
    so a query must use it verbatim for the index to apply.
    """

    def part(column: sa.ColumnElement[Any], weight: str) -> sa.ColumnElement[Any]:
        config: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
        return sa.func.setweight(
            sa.func.to_tsvector(config, sa.func.coalesce(column, "")),
            sa.literal_column(f"'{weight}'"),
        )

    return (
        part(_products.name, "A")
        .op("||")(part(_products.short_description, "B"))
        .op("||")(part(_products.description, "C"))
    )


# Full-text search (PostgreSQL only; SQLite searches with LIKE).
sa.Index(
    "idx_products_search",
    product_search_document(),
    postgresql_using="gin",
    _table=cast(sa.Table, Product.__table__),  # the expression starts with a literal
).ddl_if(dialect="postgresql")


class Price(TimestampMixin, Base):
    """A price of a product, mirrored from the gateway (``stripe_price_id``)."""

    __tablename__ = "prices"

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = reference("products.id", "CASCADE")
    stripe_price_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    nickname: Mapped[str | None] = mapped_column(sa.Text())
    unit_amount: Mapped[Decimal] = mapped_column(money())
    currency: Mapped[str] = currency_column()
    recurring: Mapped[Any | None] = mapped_column(JSONDocument)
    type: Mapped[PriceType] = mapped_column(enum(PriceType, "price_type"))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    product: Mapped[Product] = relationship(back_populates="prices")
    order_items: Mapped[list[OrderItem]] = relationship(
        back_populates="price", passive_deletes="all"
    )
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="price", passive_deletes="all", foreign_keys="Subscription.price_id"
    )

    __table_args__ = (sa.Index("ix_prices_product_id", "product_id"),)

    def __repr__(self) -> str:
        return f"Price(id={self.id!r}, unit_amount={self.unit_amount!r} {self.currency})"


class ProductCategory(TimestampMixin, Base):
    """A node of the category tree (``parent_id`` points at the parent category)."""

    __tablename__ = "product_categories"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(sa.Text())
    slug: Mapped[str] = mapped_column(sa.Text(), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text())
    parent_id: Mapped[str | None] = reference("product_categories.id", "SET NULL")
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")

    parent: Mapped[ProductCategory | None] = relationship(
        back_populates="children", remote_side="ProductCategory.id"
    )
    children: Mapped[list[ProductCategory]] = relationship(
        back_populates="parent", passive_deletes=True
    )
    products: Mapped[list[Product]] = relationship(
        secondary=product_category_links, back_populates="categories", passive_deletes=True
    )

    __table_args__ = (sa.Index("ix_product_categories_parent_id", "parent_id"),)

    def __repr__(self) -> str:
        return f"ProductCategory(id={self.id!r}, slug={self.slug!r})"


class ProductReview(TimestampMixin, Base):
    """A customer's review of a product; one per user and product."""

    __tablename__ = "product_reviews"

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = reference("products.id", "CASCADE")
    user_id: Mapped[str] = reference("users.id", "CASCADE")
    rating: Mapped[int] = mapped_column()
    title: Mapped[str | None] = mapped_column(sa.Text())
    content: Mapped[str] = mapped_column(sa.Text())
    verified: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    helpful: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Set when staff hid the review (moderation); hidden reviews are shown to
    #: their author and staff only. Not in the seed (docs/schema.md).
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product: Mapped[Product] = relationship(back_populates="reviews")
    user: Mapped[User] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("product_id", "user_id"),
        # The seed documents 1-5 stars in a comment; the database enforces it.
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
        sa.CheckConstraint("helpful >= 0", name="helpful_not_negative"),
        sa.Index("ix_product_reviews_product_id_created_at", "product_id", "created_at", "id"),
    )

    def __repr__(self) -> str:
        return f"ProductReview(id={self.id!r}, rating={self.rating!r})"


class ReviewVote(Base):
    """One user's "helpful" vote on a review: at most one per user and review.

    Not in the seed, which keeps only the count (``ProductReview.helpful``);
    the count is kept equal to these rows (docs/schema.md).
    """

    __tablename__ = "paykit_review_votes"

    id: Mapped[str] = id_column()
    review_id: Mapped[str] = reference("product_reviews.id", "CASCADE")
    user_id: Mapped[str] = reference("users.id", "CASCADE", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (sa.UniqueConstraint("review_id", "user_id"),)

    def __repr__(self) -> str:
        return f"ReviewVote(review_id={self.review_id!r}, user_id={self.user_id!r})"
