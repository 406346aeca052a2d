"""Analytics and reporting (seed: Analytics)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models._columns import money
from paykit.models.base import Base, CreatedAtMixin, id_column
from paykit.models.types import JSONDocument

__all__ = ["Analytics"]


class Analytics(CreatedAtMixin, Base):
    """One metric's value on one day (``mrr``, ``new_customers``, ``churn_rate``, ...)."""

    __tablename__ = "analytics"

    id: Mapped[str] = id_column()
    date: Mapped[dt.date] = mapped_column(sa.Date())
    metric: Mapped[str] = mapped_column(sa.Text())
    value: Mapped[Decimal] = mapped_column(money(15, 4))
    metadata_: Mapped[Any] = mapped_column(
        "metadata", JSONDocument, default=dict, server_default="{}"
    )

    __table_args__ = (sa.UniqueConstraint("date", "metric"),)

    def __repr__(self) -> str:
        return f"Analytics(date={self.date!r}, metric={self.metric!r}, value={self.value!r})"
