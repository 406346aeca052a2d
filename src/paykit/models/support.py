"""Support system (seed: SupportTicket, TicketMessage)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import enum, metadata_column, reference
from paykit.models.base import Base, CreatedAtMixin, TimestampMixin, id_column
from paykit.models.enums import TicketPriority, TicketStatus
from paykit.models.types import UTCDateTime

if TYPE_CHECKING:
    from paykit.models.users import User

__all__ = ["SupportTicket", "TicketMessage"]


class SupportTicket(TimestampMixin, Base):
    """A customer's support request, optionally assigned to a SUPPORT or ADMIN user."""

    __tablename__ = "support_tickets"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = reference("users.id", "RESTRICT")
    assignee_id: Mapped[str | None] = reference("users.id", "SET NULL")
    subject: Mapped[str] = mapped_column(sa.Text())
    description: Mapped[str] = mapped_column(sa.Text())
    status: Mapped[TicketStatus] = mapped_column(
        enum(TicketStatus, "ticket_status"), default=TicketStatus.OPEN, server_default="OPEN"
    )
    priority: Mapped[TicketPriority] = mapped_column(
        enum(TicketPriority, "ticket_priority"),
        default=TicketPriority.MEDIUM,
        server_default="MEDIUM",
    )
    metadata_: Mapped[Any] = metadata_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    customer: Mapped[User] = relationship(
        back_populates="support_tickets", foreign_keys=[customer_id]
    )
    assignee: Mapped[User | None] = relationship(
        back_populates="assigned_tickets", foreign_keys=[assignee_id]
    )
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TicketMessage.created_at",
    )

    __table_args__ = (sa.Index("ix_support_tickets_customer_id", "customer_id"),)

    def __repr__(self) -> str:
        return f"SupportTicket(id={self.id!r}, status={self.status!r})"


class TicketMessage(CreatedAtMixin, Base):
    """A message on a ticket; ``is_internal`` messages are never shown to customers."""

    __tablename__ = "ticket_messages"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = reference("support_tickets.id", "CASCADE")
    user_id: Mapped[str] = reference("users.id", "RESTRICT")
    content: Mapped[str] = mapped_column(sa.Text())
    is_internal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    ticket: Mapped[SupportTicket] = relationship(back_populates="messages")

    __table_args__ = (sa.Index("ix_ticket_messages_ticket_id", "ticket_id"),)

    def __repr__(self) -> str:
        return f"TicketMessage(id={self.id!r}, internal={self.is_internal!r})"
