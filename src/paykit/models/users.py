"""User management and authentication (seed: User, Session)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import enum, reference
from paykit.models.base import Base, CreatedAtMixin, TimestampMixin, id_column
from paykit.models.enums import UserRole, UserStatus
from paykit.models.types import EncryptedDateTime, EncryptedJSON, EncryptedText, UTCDateTime

if TYPE_CHECKING:
    from paykit.models.audit import AuditLog
    from paykit.models.discounts import DiscountUsage
    from paykit.models.orders import Order
    from paykit.models.payments import PaymentMethod
    from paykit.models.subscriptions import Subscription
    from paykit.models.support import SupportTicket

__all__ = ["EMAIL_REGEX", "Session", "TokenPurpose", "User", "UserToken"]

#: The seed's email CHECK (section 5.2), enforced by PostgreSQL.
EMAIL_REGEX = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


class User(TimestampMixin, Base):
    """A person who buys, supports or administers (table ``users``)."""

    __tablename__ = "users"

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(sa.Text(), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password: Mapped[str | None] = mapped_column(sa.Text())
    name: Mapped[str | None] = mapped_column(sa.Text())
    avatar: Mapped[str | None] = mapped_column(sa.Text())
    role: Mapped[UserRole] = mapped_column(
        enum(UserRole, "user_role"), default=UserRole.CUSTOMER, server_default="CUSTOMER"
    )
    status: Mapped[UserStatus] = mapped_column(
        enum(UserStatus, "user_status"), default=UserStatus.ACTIVE, server_default="ACTIVE"
    )
    first_name: Mapped[str | None] = mapped_column(sa.Text())
    last_name: Mapped[str | None] = mapped_column(sa.Text())
    # Personal data: encrypted at rest (docs/security.md). Not searchable in SQL.
    phone: Mapped[str | None] = mapped_column(EncryptedText("users.phone"))
    date_of_birth: Mapped[datetime | None] = mapped_column(EncryptedDateTime("users.date_of_birth"))
    timezone: Mapped[str] = mapped_column(sa.Text(), default="UTC", server_default="UTC")
    language: Mapped[str] = mapped_column(sa.Text(), default="en", server_default="en")
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.Text(), unique=True)
    billing_address: Mapped[Any | None] = mapped_column(EncryptedJSON("users.billing_address"))
    tax_id: Mapped[str | None] = mapped_column(EncryptedText("users.tax_id"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    sessions: Mapped[list[Session]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    orders: Mapped[list[Order]] = relationship(back_populates="user", passive_deletes="all")
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="user", passive_deletes="all"
    )
    payment_methods: Mapped[list[PaymentMethod]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    support_tickets: Mapped[list[SupportTicket]] = relationship(
        back_populates="customer",
        foreign_keys="SupportTicket.customer_id",
        passive_deletes="all",
    )
    assigned_tickets: Mapped[list[SupportTicket]] = relationship(
        back_populates="assignee",
        foreign_keys="SupportTicket.assignee_id",
        passive_deletes=True,
    )
    discount_usages: Mapped[list[DiscountUsage]] = relationship(
        back_populates="user", passive_deletes="all"
    )
    audit_logs: Mapped[list[AuditLog]] = relationship(back_populates="user", passive_deletes=True)

    __table_args__ = (
        sa.CheckConstraint(
            sa.text(f"email ~* '{EMAIL_REGEX}'"), name=sa.sql.elements.conv("check_email_format")
        ).ddl_if(dialect="postgresql"),
        # SQLite has no regex operator: the same rule, as far as LIKE can say it.
        sa.CheckConstraint(
            "email LIKE '%_@_%._%' AND email NOT LIKE '%@%@%' AND instr(email, ' ') = 0",
            name=sa.sql.elements.conv("check_email_format"),
        ).ddl_if(dialect="sqlite"),
        sa.Index("idx_users_role_status", "role", "status"),
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r}, role={self.role!r})"


class Session(CreatedAtMixin, Base):
    """A login session (table ``sessions``); ``token`` holds a SHA-256 hash, never the token."""

    __tablename__ = "sessions"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = reference("users.id", "CASCADE")
    token: Mapped[str] = mapped_column(sa.Text(), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip_address: Mapped[str | None] = mapped_column(sa.Text())
    user_agent: Mapped[str | None] = mapped_column(sa.Text())

    user: Mapped[User] = relationship(back_populates="sessions")

    __table_args__ = (sa.Index("ix_sessions_user_id", "user_id"),)

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, user_id={self.user_id!r})"


class TokenPurpose(StrEnum):
    """What a :class:`UserToken` is good for."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"


class UserToken(CreatedAtMixin, Base):
    """A single-use, expiring token mailed to a user (table ``paykit_user_tokens``).

    Not in the seed (a departure, docs/schema.md): email verification and
    password reset need somewhere to remember which tokens were issued and
    used. Like ``sessions.token``, ``token_hash`` is a SHA-256, never the token.
    """

    __tablename__ = "paykit_user_tokens"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = reference("users.id", "CASCADE")
    purpose: Mapped[str] = mapped_column(sa.Text())
    token_hash: Mapped[str] = mapped_column(sa.Text(), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (sa.Index("ix_paykit_user_tokens_user_id", "user_id"),)

    def __repr__(self) -> str:
        return f"UserToken(id={self.id!r}, purpose={self.purpose!r}, user_id={self.user_id!r})"
