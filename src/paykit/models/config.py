"""System configuration (seed: SystemConfig)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models.base import Base, TimestampMixin, id_column

__all__ = ["SystemConfig"]


class SystemConfig(TimestampMixin, Base):
    """A key/value setting of the host application."""

    __tablename__ = "system_config"

    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(sa.Text(), unique=True)
    value: Mapped[str] = mapped_column(sa.Text())

    def __repr__(self) -> str:
        return f"SystemConfig(key={self.key!r})"
