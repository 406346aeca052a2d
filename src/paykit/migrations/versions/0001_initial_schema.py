"""Initial schema: the seed's 20 models, 14 enums, section 3.1 indexes and 5.2 checks.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Released revisions are never edited; change the schema with a new revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import paykit.models.types

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ENUMS = (
    "user_role",
    "user_status",
    "product_status",
    "product_type",
    "price_type",
    "order_status",
    "payment_status",
    "subscription_status",
    "invoice_status",
    "discount_type",
    "refund_reason",
    "refund_status",
    "ticket_status",
    "ticket_priority",
)


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _email_check() -> sa.CheckConstraint:
    # The seed's regex on PostgreSQL; SQLite has no regex operator, so there
    # the same rule as far as LIKE can express it.
    if _is_postgresql():
        return sa.CheckConstraint(
            "email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'",
            name=op.f("check_email_format"),
        )
    return sa.CheckConstraint(
        "email LIKE '%_@_%._%' AND email NOT LIKE '%@%@%' AND instr(email, ' ') = 0",
        name=op.f("check_email_format"),
    )


def _discount_check() -> sa.CheckConstraint:
    # On SQLite a (10, 4) ExactDecimal is stored as 10**4 units per 1.
    limit = "100" if _is_postgresql() else "1000000"
    return sa.CheckConstraint(
        f"(type = 'PERCENTAGE' AND value > 0 AND value <= {limit}) OR "
        "(type = 'FIXED_AMOUNT' AND value > 0)",
        name=op.f("check_discount_percentage"),
    )


def upgrade() -> None:
    op.create_table(
        "analytics",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("value", paykit.models.types.ExactDecimal(precision=15, scale=4), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics")),
        sa.UniqueConstraint("date", "metric", name=op.f("uq_analytics_date_metric")),
    )
    op.create_table(
        "discounts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "type",
            sa.Enum("PERCENTAGE", "FIXED_AMOUNT", name="discount_type", create_constraint=True),
            nullable=False,
        ),
        sa.Column("value", paykit.models.types.ExactDecimal(precision=10, scale=4), nullable=False),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("max_uses_per_customer", sa.Integer(), nullable=True),
        sa.Column("current_uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("valid_from", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "minimum_amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=True
        ),
        sa.Column("first_time_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        _discount_check(),
        sa.CheckConstraint(
            "current_uses >= 0 AND (max_uses IS NULL OR current_uses <= max_uses)",
            name=op.f("ck_discounts_uses_within_limit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discounts")),
        sa.UniqueConstraint("code", name=op.f("uq_discounts_code")),
    )
    op.create_table(
        "product_categories",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["product_categories.id"],
            name=op.f("fk_product_categories_parent_id_product_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_product_categories_slug")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("short_description", sa.Text(), nullable=True),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "PUBLISHED",
                "ARCHIVED",
                "DELETED",
                name="product_status",
                create_constraint=True,
            ),
            server_default="DRAFT",
            nullable=False,
        ),
        sa.Column(
            "type",
            sa.Enum(
                "ONE_TIME",
                "SUBSCRIPTION",
                "DIGITAL_DOWNLOAD",
                "SERVICE",
                name="product_type",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "base_price", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "tax_rate", paykit.models.types.ExactDecimal(precision=5, scale=4), nullable=True
        ),
        sa.Column("download_url", sa.Text(), nullable=True),
        sa.Column("download_limit", sa.Integer(), server_default="-1", nullable=True),
        sa.Column("access_duration", sa.Integer(), nullable=True),
        sa.Column("billing_interval", sa.Text(), nullable=True),
        sa.Column("trial_days", sa.Integer(), server_default="0", nullable=True),
        sa.Column(
            "images",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("meta_title", sa.Text(), nullable=True),
        sa.Column("meta_description", sa.Text(), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("featured", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("track_inventory", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("stock_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), nullable=True),
        sa.Column("published_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("base_price >= 0", name=op.f("check_positive_price")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("slug", name=op.f("uq_products_slug")),
    )
    op.create_index(
        "idx_products_status_featured", "products", ["status", "featured"], unique=False
    )
    op.create_index("idx_products_type_status", "products", ["type", "status"], unique=False)
    op.create_table(
        "system_config",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_config")),
        sa.UniqueConstraint("key", name=op.f("uq_system_config_key")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "email_verified_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("avatar", sa.Text(), nullable=True),
        sa.Column(
            "role",
            sa.Enum("ADMIN", "CUSTOMER", "SUPPORT", name="user_role", create_constraint=True),
            server_default="CUSTOMER",
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "INACTIVE",
                "SUSPENDED",
                "DELETED",
                name="user_status",
                create_constraint=True,
            ),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("date_of_birth", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("language", sa.Text(), server_default="en", nullable=False),
        sa.Column("stripe_customer_id", sa.Text(), nullable=True),
        sa.Column(
            "billing_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("tax_id", sa.Text(), nullable=True),
        sa.Column("last_login_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        _email_check(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_users_stripe_customer_id")),
    )
    op.create_index("idx_users_role_status", "users", ["role", "status"], unique=False)
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column(
            "old_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "new_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_logs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index(
        "idx_audit_logs_user_id_created_at",
        "audit_logs",
        ["user_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("stripe_payment_intent_id", sa.Text(), nullable=True),
        sa.Column("order_number", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "PROCESSING",
                "COMPLETED",
                "CANCELLED",
                "REFUNDED",
                name="order_status",
                create_constraint=True,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "subtotal", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column(
            "tax_amount",
            paykit.models.types.ExactDecimal(precision=10, scale=2),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "discount_amount",
            paykit.models.types.ExactDecimal(precision=10, scale=2),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "total_amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column(
            "billing_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "shipping_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "payment_status",
            sa.Enum(
                "PENDING",
                "PROCESSING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                "REFUNDED",
                name="payment_status",
                create_constraint=True,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("payment_method", sa.Text(), nullable=True),
        sa.Column(
            "refunded_amount",
            paykit.models.types.ExactDecimal(precision=10, scale=2),
            server_default="0",
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("internal_notes", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("completed_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("total_amount >= 0", name=op.f("check_positive_total")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_number", name=op.f("uq_orders_order_number")),
        sa.UniqueConstraint(
            "stripe_payment_intent_id", name=op.f("uq_orders_stripe_payment_intent_id")
        ),
    )
    op.create_index(
        "idx_orders_status_created_at", "orders", ["status", "created_at"], unique=False
    )
    op.create_index(
        "idx_orders_user_id_created_at",
        "orders",
        ["user_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("stripe_payment_method_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "card",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "billing_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payment_methods_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint(
            "stripe_payment_method_id", name=op.f("uq_payment_methods_stripe_payment_method_id")
        ),
    )
    op.create_index("ix_payment_methods_user_id", "payment_methods", ["user_id"], unique=False)
    op.create_table(
        "prices",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("stripe_price_id", sa.Text(), nullable=False),
        sa.Column("nickname", sa.Text(), nullable=True),
        sa.Column(
            "unit_amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "recurring",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "type",
            sa.Enum("ONE_TIME", "RECURRING", name="price_type", create_constraint=True),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_prices_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_prices_stripe_price_id")),
    )
    op.create_index("ix_prices_product_id", "prices", ["product_id"], unique=False)
    op.create_table(
        "product_category_links",
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name=op.f("fk_product_category_links_category_id_product_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_category_links_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_id", "category_id", name=op.f("pk_product_category_links")
        ),
    )
    op.create_index(
        "ix_product_category_links_category_id",
        "product_category_links",
        ["category_id"],
        unique=False,
    )
    op.create_table(
        "product_discounts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("discount_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["discount_id"],
            ["discounts.id"],
            name=op.f("fk_product_discounts_discount_id_discounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_discounts_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_discounts")),
        sa.UniqueConstraint(
            "product_id", "discount_id", name=op.f("uq_product_discounts_product_id_discount_id")
        ),
    )
    op.create_index(
        "ix_product_discounts_discount_id", "product_discounts", ["discount_id"], unique=False
    )
    op.create_table(
        "product_reviews",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("helpful", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "rating >= 1 AND rating <= 5", name=op.f("ck_product_reviews_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_reviews_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_product_reviews_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_reviews")),
        sa.UniqueConstraint(
            "product_id", "user_id", name=op.f("uq_product_reviews_product_id_user_id")
        ),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("expires_at", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token", name=op.f("uq_sessions_token")),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"], unique=False)
    op.create_table(
        "support_tickets",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("assignee_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "OPEN",
                "IN_PROGRESS",
                "RESOLVED",
                "CLOSED",
                name="ticket_status",
                create_constraint=True,
            ),
            server_default="OPEN",
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "LOW", "MEDIUM", "HIGH", "URGENT", name="ticket_priority", create_constraint=True
            ),
            server_default="MEDIUM",
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("resolved_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_support_tickets_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["users.id"],
            name=op.f("fk_support_tickets_customer_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    op.create_index(
        "ix_support_tickets_customer_id", "support_tickets", ["customer_id"], unique=False
    )
    op.create_table(
        "discount_usages",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("discount_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=True),
        sa.Column(
            "amount_saved", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["discount_id"],
            ["discounts.id"],
            name=op.f("fk_discount_usages_discount_id_discounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_discount_usages_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_discount_usages_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_usages")),
    )
    op.create_index(
        "ix_discount_usages_discount_id_user_id",
        "discount_usages",
        ["discount_id", "user_id"],
        unique=False,
    )
    op.create_index("ix_discount_usages_order_id", "discount_usages", ["order_id"], unique=False)
    op.create_table(
        "order_items",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "unit_price", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column(
            "total_price", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("download_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "access_expires_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("check_positive_quantity")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["price_id"],
            ["prices.id"],
            name=op.f("fk_order_items_price_id_prices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_order_items_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("stripe_refund_id", sa.Text(), nullable=False),
        sa.Column(
            "amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "REQUESTED_BY_CUSTOMER",
                "DUPLICATE",
                "FRAUDULENT",
                "SUBSCRIPTION_CANCELED",
                "OTHER",
                name="refund_reason",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "SUCCEEDED",
                "FAILED",
                "CANCELED",
                name="refund_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("processed_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_positive_amount")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_refunds_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_refunds_stripe_refund_id")),
    )
    op.create_index("ix_refunds_order_id", "refunds", ["order_id"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Text(), nullable=False),
        sa.Column("stripe_subscription_id", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "TRIALING",
                "ACTIVE",
                "PAST_DUE",
                "CANCELLED",
                "UNPAID",
                "INCOMPLETE",
                "INCOMPLETE_EXPIRED",
                "PAUSED",
                name="subscription_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "current_period_start", paykit.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "current_period_end", paykit.models.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("canceled_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trial_start", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trial_end", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "unit_amount", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["price_id"],
            ["prices.id"],
            name=op.f("fk_subscriptions_price_id_prices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_subscriptions_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")
        ),
    )
    op.create_index(
        "idx_subscriptions_current_period_end",
        "subscriptions",
        ["current_period_end"],
        unique=False,
    )
    op.create_index("idx_subscriptions_status", "subscriptions", ["status"], unique=False)
    op.create_index("idx_subscriptions_user_id", "subscriptions", ["user_id"], unique=False)
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_internal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_ticket_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ticket_messages_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_messages")),
    )
    op.create_index("ix_ticket_messages_ticket_id", "ticket_messages", ["ticket_id"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("stripe_invoice_id", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "OPEN",
                "PAID",
                "VOID",
                "UNCOLLECTIBLE",
                name="invoice_status",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column(
            "subtotal", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column(
            "tax",
            paykit.models.types.ExactDecimal(precision=10, scale=2),
            server_default="0",
            nullable=False,
        ),
        sa.Column("total", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False),
        sa.Column(
            "amount_paid",
            paykit.models.types.ExactDecimal(precision=10, scale=2),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "amount_due", paykit.models.types.ExactDecimal(precision=10, scale=2), nullable=False
        ),
        sa.Column("period_start", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", paykit.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_date", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            paykit.models.types.UTCDateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_invoices_stripe_invoice_id")),
    )
    op.create_index("ix_invoices_subscription_id", "invoices", ["subscription_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_invoices_subscription_id", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index("ix_ticket_messages_ticket_id", table_name="ticket_messages")
    op.drop_table("ticket_messages")
    op.drop_index("idx_subscriptions_user_id", table_name="subscriptions")
    op.drop_index("idx_subscriptions_status", table_name="subscriptions")
    op.drop_index("idx_subscriptions_current_period_end", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_refunds_order_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_order_items_order_id", table_name="order_items")
    op.drop_table("order_items")
    op.drop_index("ix_discount_usages_order_id", table_name="discount_usages")
    op.drop_index("ix_discount_usages_discount_id_user_id", table_name="discount_usages")
    op.drop_table("discount_usages")
    op.drop_index("ix_support_tickets_customer_id", table_name="support_tickets")
    op.drop_table("support_tickets")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("product_reviews")
    op.drop_index("ix_product_discounts_discount_id", table_name="product_discounts")
    op.drop_table("product_discounts")
    op.drop_index("ix_product_category_links_category_id", table_name="product_category_links")
    op.drop_table("product_category_links")
    op.drop_index("ix_prices_product_id", table_name="prices")
    op.drop_table("prices")
    op.drop_index("ix_payment_methods_user_id", table_name="payment_methods")
    op.drop_table("payment_methods")
    op.drop_index("idx_orders_user_id_created_at", table_name="orders")
    op.drop_index("idx_orders_status_created_at", table_name="orders")
    op.drop_table("orders")
    op.drop_index("idx_audit_logs_user_id_created_at", table_name="audit_logs")
    op.drop_table("audit_logs")
    op.drop_index("idx_users_role_status", table_name="users")
    op.drop_table("users")
    op.drop_table("system_config")
    op.drop_index("idx_products_type_status", table_name="products")
    op.drop_index("idx_products_status_featured", table_name="products")
    op.drop_table("products")
    op.drop_table("product_categories")
    op.drop_table("discounts")
    op.drop_table("analytics")
    if _is_postgresql():
        # create_table made the enum types; drop_table leaves them behind.
        for name in ENUMS:
            sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
