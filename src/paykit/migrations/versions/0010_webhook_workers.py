"""Webhook workers: a dead-letter status and a backoff time on the inbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 21:10:00.000000

``paykit_webhook_events.next_attempt_at`` is when a worker may try a failed
event again (exponential backoff); ``dead`` is the status of an event a worker
gave up on after its maximum attempts. Index ``ix_paykit_webhook_events_due``
serves the workers' query (unfinished events, oldest first).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import paykit.models.types

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('pending', 'processed', 'ignored', 'failed')"
_NEW = "status IN ('pending', 'processed', 'ignored', 'failed', 'dead')"


def upgrade() -> None:
    with op.batch_alter_table("paykit_webhook_events") as batch:
        batch.add_column(
            sa.Column(
                "next_attempt_at", paykit.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.drop_constraint(op.f("ck_paykit_webhook_events_status_values"), type_="check")
        batch.create_check_constraint(op.f("ck_paykit_webhook_events_status_values"), _NEW)
        batch.create_index(
            "ix_paykit_webhook_events_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    op.execute("UPDATE paykit_webhook_events SET status = 'failed' WHERE status = 'dead'")
    with op.batch_alter_table("paykit_webhook_events") as batch:
        batch.drop_index("ix_paykit_webhook_events_due")
        batch.drop_constraint(op.f("ck_paykit_webhook_events_status_values"), type_="check")
        batch.create_check_constraint(op.f("ck_paykit_webhook_events_status_values"), _OLD)
        batch.drop_column("next_attempt_at")
