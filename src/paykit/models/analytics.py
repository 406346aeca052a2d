"""Analytics and reporting (seed: Analytics)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models._columns import metadata_column, money, reference
from paykit.models.base import Base, CreatedAtMixin, id_column
from paykit.models.types import UTCDateTime

__all__ = ["Analytics", "SubscriptionMrrHistory"]


class Analytics(CreatedAtMixin, Base):
    """One metric's value on one day (``mrr``, ``new_customers``, ``churn_rate``, ...)."""

    __tablename__ = "analytics"

    id: Mapped[str] = id_column()
    date: Mapped[dt.date] = mapped_column(sa.Date())
    metric: Mapped[str] = mapped_column(sa.Text())
    value: Mapped[Decimal] = mapped_column(money(15, 4))
    metadata_: Mapped[Any] = metadata_column()

    __table_args__ = (sa.UniqueConstraint("date", "metric"),)

    def __repr__(self) -> str:
        return f"Analytics(date={self.date!r}, metric={self.metric!r}, value={self.value!r})"


class SubscriptionMrrHistory(CreatedAtMixin, Base):
    """One state of a subscription's MRR contribution, in force from ``effective_at``.

    Not in the seed (docs/schema.md, docs/analytics.md): written by
    ``sync_subscription`` through :func:`paykit.analytics.history.record_mrr_change`.
    The contribution of a subscription at an instant ``t`` is the row with the
    greatest ``effective_at <= t``; one row per subscription and instant.
    """

    __tablename__ = "subscription_mrr_history"

    id: Mapped[str] = id_column()
    subscription_id: Mapped[str] = reference("subscriptions.id", "CASCADE")
    user_id: Mapped[str] = reference("users.id", "CASCADE")
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(sa.Text())
    #: the SubscriptionStatus value in force (text, so the history outlives enum changes)
    status: Mapped[str] = mapped_column(sa.Text())
    #: the normalised monthly amount, whatever the status (docs/analytics.md)
    monthly_amount: Mapped[Decimal] = mapped_column(money(15, 4))
    #: what the subscription adds to MRR: ``monthly_amount`` when ACTIVE or PAST_DUE, else 0
    mrr: Mapped[Decimal] = mapped_column(money(15, 4))

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "effective_at"),
        sa.Index("ix_subscription_mrr_history_currency_effective_at", "currency", "effective_at"),
        sa.Index("ix_subscription_mrr_history_user_id", "user_id"),
    )

    def __repr__(self) -> str:
        return (
            f"SubscriptionMrrHistory(subscription_id={self.subscription_id!r}, "
            f"effective_at={self.effective_at!r}, mrr={self.mrr!r} {self.currency})"
        )
