"""Webhook workers: apply the inbox in the background, any number at once.

The fast ingest path is ``handle_webhook(..., defer=True)``: verify, store the
event as ``pending`` and answer 200 in one short transaction. Workers then
apply what is due with :func:`work_inbox` (``paykit webhooks work``):

* **Claiming** -- each batch takes due rows with ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so workers never wait for each other nor apply one event twice;
  on SQLite (one writer at a time) a batch is simply the next due rows.
* **Order per object** -- an event is due only when no *older* event about the
  same Stripe object (``object_id``) is still ``pending`` or ``failed``: the
  events of one subscription or payment are applied in the order Stripe
  created them, while events of different objects run in parallel.
* **Retries with backoff** -- a failed attempt sets ``next_attempt_at`` to now +
  ``backoff * 2 ** (attempts - 1)`` (capped at 6 hours).
* **Dead letter** -- after ``max_attempts`` failed attempts the row becomes
  ``dead``; it blocks nothing any more and waits for a person:
  :func:`revive_dead` (``paykit webhooks replay --dead``) puts it back.

Each event is applied in its own SAVEPOINT (as ``handle_webhook`` does), and
the caller's transaction commits a batch: a crash loses only the batch in
flight, whose rows are still ``pending``/``failed`` for the next worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.models import WebhookEvent, WebhookEventStatus
from paykit.stripe.webhooks import process_event

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_ATTEMPTS",
    "BatchResult",
    "list_inbox",
    "revive_dead",
    "work_inbox",
]

#: First retry delay; each later attempt waits twice as long as the one before.
DEFAULT_BACKOFF = timedelta(seconds=30)
#: Failed attempts after which an event is dead-lettered.
DEFAULT_MAX_ATTEMPTS = 8
_MAX_BACKOFF = timedelta(hours=6)
_UNFINISHED = (WebhookEventStatus.PENDING.value, WebhookEventStatus.FAILED.value)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one :func:`work_inbox` call did: rows claimed and their outcomes."""

    claimed: int
    processed: int
    ignored: int
    failed: int
    dead: int

    @property
    def idle(self) -> bool:
        """Whether nothing was due (a worker may sleep)."""
        return self.claimed == 0


def _due(now: datetime, limit: int, postgres: bool) -> sa.Select[Any]:
    older = aliased(WebhookEvent)
    blocked = sa.exists(
        sa.select(older.id).where(
            older.object_id == WebhookEvent.object_id,
            older.status.in_(_UNFINISHED),
            sa.or_(
                older.event_created_at < WebhookEvent.event_created_at,
                sa.and_(
                    older.event_created_at == WebhookEvent.event_created_at,
                    older.id < WebhookEvent.id,
                ),
            ),
        )
    )
    query = (
        sa.select(WebhookEvent)
        .where(
            WebhookEvent.status.in_(_UNFINISHED),
            sa.or_(WebhookEvent.next_attempt_at.is_(None), WebhookEvent.next_attempt_at <= now),
            sa.or_(WebhookEvent.object_id.is_(None), sa.not_(blocked)),
        )
        .order_by(WebhookEvent.event_created_at, WebhookEvent.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True, of=WebhookEvent)
    return query


def _backoff(attempts: int, base: timedelta) -> timedelta:
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, _MAX_BACKOFF)


@checked
def work_inbox(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    batch_size: int = 50,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff: timedelta = DEFAULT_BACKOFF,
    context: RequestContext | None = None,
) -> BatchResult:
    """Claim and apply one batch of due inbox events (see the module); the host commits.

    Call it in a loop, one transaction per batch, from as many workers as you
    like; ``BatchResult.idle`` says when nothing was due.
    """
    if not 1 <= max_attempts <= 100:
        raise ValidationError("max_attempts must be 1..100", details={"field": "max_attempts"})
    resolved = resolve_clock(clock)
    now = resolved.now()
    postgres = session.get_bind().dialect.name == "postgresql"
    rows: list[WebhookEvent] = list(session.scalars(_due(now, batch_size, postgres)))
    counts = dict.fromkeys(WebhookEventStatus, 0)
    for row in rows:
        outcome = process_event(session, row, gateway=gateway, clock=resolved, context=context)
        if outcome is WebhookEventStatus.FAILED:
            if row.attempts >= max_attempts:
                row.status = WebhookEventStatus.DEAD.value
                row.next_attempt_at = None
                outcome = WebhookEventStatus.DEAD
            else:
                row.next_attempt_at = now + _backoff(row.attempts, backoff)
        elif row.next_attempt_at is not None:
            row.next_attempt_at = None
        counts[outcome] += 1
    session.flush()
    return BatchResult(
        claimed=len(rows),
        processed=counts[WebhookEventStatus.PROCESSED],
        ignored=counts[WebhookEventStatus.IGNORED],
        failed=counts[WebhookEventStatus.FAILED],
        dead=counts[WebhookEventStatus.DEAD],
    )


@checked
def revive_dead(session: Session, *, event_ids: Sequence[str] | None = None) -> int:
    """Put dead events (all, or those Stripe event ids) back to ``pending``, due now.

    Their attempt count restarts at 0 and the last error is cleared, so a
    worker gives them the full number of attempts again (the error of each new
    failure is recorded anew). Returns how many rows were revived.
    """
    statement = (
        sa.update(WebhookEvent)
        .where(WebhookEvent.status == WebhookEventStatus.DEAD.value)
        .values(
            status=WebhookEventStatus.PENDING.value,
            attempts=0,
            last_error=None,
            next_attempt_at=None,
        )
    )
    if event_ids is not None:
        statement = statement.where(WebhookEvent.event_id.in_(list(event_ids)))
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


@checked
def list_inbox(
    session: Session, *, status: str | None = None, limit: int = 50
) -> list[WebhookEvent]:
    """Inbox rows, newest first, optionally of one status (``failed``, ``dead``, ...)."""
    if status is not None and status not in {s.value for s in WebhookEventStatus}:
        raise ValidationError(f"unknown status {status!r}", code="invalid_status")
    query = sa.select(WebhookEvent).order_by(
        WebhookEvent.received_at.desc(), WebhookEvent.id.desc()
    )
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    return list(session.scalars(query.limit(limit)))
