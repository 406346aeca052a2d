"""The webhook inbox (not part of the seed; see docs/schema.md and docs/stripe.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models.base import Base, id_column, utcnow
from paykit.models.types import JSONDocument, UTCDateTime

__all__ = ["WebhookEvent", "WebhookEventStatus"]


class WebhookEventStatus(StrEnum):
    """Where an inbox row stands.

    ``pending``: stored, not processed yet (deferred, or the process crashed);
    ``processed``: its effects are committed with it; ``ignored``: acknowledged
    without effects (an unknown type, or an object paykit does not track);
    ``failed``: the handler raised, ``last_error`` says why, and
    :func:`paykit.webhooks.replay_failed` (or a worker, after ``next_attempt_at``)
    tries again; ``dead``: a worker gave up after its maximum attempts (the
    dead-letter state; ``paykit webhooks replay --dead`` puts it back).
    """

    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    DEAD = "dead"


class WebhookEvent(Base):
    """One gateway event, stored once (unique ``event_id``) in the transaction of its effects.

    ``object_id`` is the id of ``data.object`` (a subscription, invoice, payment
    method, ...), so the newest event about one object can be found without
    reading JSON. ``event_created_at`` is the gateway's ``created`` time of the
    event, the order in which events are applied.
    """

    __tablename__ = "paykit_webhook_events"

    id: Mapped[str] = id_column()
    event_id: Mapped[str] = mapped_column(sa.Text(), unique=True)
    type: Mapped[str] = mapped_column(sa.Text())
    object_id: Mapped[str | None] = mapped_column(sa.Text())
    api_version: Mapped[str | None] = mapped_column(sa.Text())
    livemode: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    event_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[Any] = mapped_column(JSONDocument)
    # A plain TEXT with a CHECK, not a native enum: a new status needs no ALTER TYPE.
    status: Mapped[str] = mapped_column(
        sa.Text(), default=WebhookEventStatus.PENDING.value, server_default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text())
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, server_default=sa.func.now()
    )
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When a worker may try a failed event again (backoff); None: now (revision 0010).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'ignored', 'failed', 'dead')",
            name="status_values",
        ),
        sa.Index("ix_paykit_webhook_events_status_event_created_at", "status", "event_created_at"),
        sa.Index("ix_paykit_webhook_events_object_id", "object_id"),
        sa.Index("ix_paykit_webhook_events_due", "status", "next_attempt_at"),
    )

    def __repr__(self) -> str:
        return (
            f"WebhookEvent(event_id={self.event_id!r}, type={self.type!r}, status={self.status!r})"
        )
