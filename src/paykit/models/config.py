"""System configuration (seed: SystemConfig)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models.base import Base, TimestampMixin, id_column

__all__ = ["AUDIT_CUTOFF_KEY", "SystemConfig"]

#: The ``system_config`` key holding the newest audit-log purge cut-off (ISO 8601,
#: UTC), written by ``paykit.services.retention`` and read by ``paykit.check``.
AUDIT_CUTOFF_KEY = "paykit.retention.audit_before"


class SystemConfig(TimestampMixin, Base):
    """A key/value setting of the host application."""

    __tablename__ = "system_config"

    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(sa.Text(), unique=True)
    value: Mapped[str] = mapped_column(sa.Text())

    def __repr__(self) -> str:
        return f"SystemConfig(key={self.key!r})"
