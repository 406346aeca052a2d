"""Audit trail (seed: AuditLog)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paykit.models._columns import metadata_column, reference
from paykit.models.base import Base, CreatedAtMixin, id_column
from paykit.models.types import JSONDocument

if TYPE_CHECKING:
    from paykit.models.users import User

__all__ = ["AuditLog"]


class AuditLog(CreatedAtMixin, Base):
    """Who did what to which resource, with masked before and after values."""

    __tablename__ = "audit_logs"

    id: Mapped[str] = id_column()
    user_id: Mapped[str | None] = reference("users.id", "SET NULL")
    action: Mapped[str] = mapped_column(sa.Text())
    resource: Mapped[str] = mapped_column(sa.Text())
    resource_id: Mapped[str | None] = mapped_column(sa.Text())
    old_values: Mapped[Any | None] = mapped_column(JSONDocument)
    new_values: Mapped[Any | None] = mapped_column(JSONDocument)
    metadata_: Mapped[Any] = metadata_column()
    ip_address: Mapped[str | None] = mapped_column(sa.Text())
    user_agent: Mapped[str | None] = mapped_column(sa.Text())

    user: Mapped[User | None] = relationship(back_populates="audit_logs")

    def __repr__(self) -> str:
        return f"AuditLog(action={self.action!r}, resource={self.resource!r})"


sa.Index("idx_audit_logs_user_id_created_at", AuditLog.user_id, AuditLog.created_at.desc())
