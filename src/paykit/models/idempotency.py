"""Idempotency records for calls that move money (not part of the seed; see docs/schema.md)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models._columns import reference
from paykit.models.base import Base, CreatedAtMixin, id_column
from paykit.models.types import JSONDocument

__all__ = ["IdempotencyKey"]


class IdempotencyKey(CreatedAtMixin, Base):
    """One caller-supplied idempotency key of one operation (``scope``).

    The unique ``(scope, key)`` pair is what makes two parallel calls with one
    key produce one result: the second call's insert waits for the first
    transaction and then finds its row. ``request_hash`` detects a key reused
    with different parameters; ``resource_id`` and ``outcome`` record what the
    first call produced so a repeat returns (or raises) the same thing.
    ``user_id`` is the customer the call acted for (row-level security lets
    that customer, and staff, see the row); ``None`` for keys from before
    revision 0005 that no resource could attribute.
    """

    __tablename__ = "paykit_idempotency_keys"

    id: Mapped[str] = id_column()
    scope: Mapped[str] = mapped_column(sa.Text())
    key: Mapped[str] = mapped_column(sa.Text())
    user_id: Mapped[str | None] = reference("users.id", "CASCADE")
    request_hash: Mapped[str] = mapped_column(sa.Text())
    resource_id: Mapped[str | None] = mapped_column(sa.Text())
    outcome: Mapped[Any | None] = mapped_column(JSONDocument)

    __table_args__ = (
        sa.UniqueConstraint("scope", "key"),
        sa.Index("ix_paykit_idempotency_keys_user_id", "user_id"),
    )

    def __repr__(self) -> str:
        return f"IdempotencyKey(scope={self.scope!r}, key={self.key!r})"
