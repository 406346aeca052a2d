"""Failed-login counters for login throttling (not part of the seed; see docs/schema.md)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models.base import Base, id_column
from paykit.models.types import UTCDateTime

__all__ = ["LoginAttempt"]


class LoginAttempt(Base):
    """Login attempts counted in one window for one e-mail address or one IP address.

    ``subject`` is the SHA-256 of the normalised address, never the address
    itself, so the table holds no personal data in plain text. The unique
    ``(scope, subject)`` pair lets one upsert count an attempt atomically:
    parallel attempts queue on the row instead of all reading the same count
    (paykit.services.throttle).
    """

    __tablename__ = "paykit_login_attempts"

    id: Mapped[str] = id_column()
    scope: Mapped[str] = mapped_column(sa.Text())
    subject: Mapped[str] = mapped_column(sa.Text())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("scope", "subject"),
        sa.CheckConstraint("scope IN ('email', 'ip')", name="scope_values"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_paykit_login_attempts_window_started_at", "window_started_at"),
    )

    def __repr__(self) -> str:
        return f"LoginAttempt(scope={self.scope!r}, attempts={self.attempts!r})"
