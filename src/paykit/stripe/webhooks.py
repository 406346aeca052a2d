"""Stripe webhooks: verify, store in the inbox, apply, answer.

:func:`handle_webhook` is everything a web framework's route needs::

    response = paykit.stripe.handle_webhook(
        session, request_body_bytes, request.headers.get("Stripe-Signature"),
        secrets=["whsec_..."], gateway=gateway,
    )
    session.commit()          # always, whatever the status: the inbox row must be kept
    return response.status_code, response.body

Each event is stored once in ``paykit_webhook_events`` (unique on Stripe's
event id) in the host's transaction, together with its effects, so a repeated
delivery is a no-op. A handler runs inside a SAVEPOINT: if it fails, its
effects are rolled back but the inbox row stays, marked ``failed`` with the
error, and the answer is a 500, so Stripe retries; :func:`replay_failed`
retries from the inbox without waiting for Stripe. ``docs/stripe.md`` has the
table of events and what paykit does with each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import WebhookError
from paykit.gateways.base import PaymentGateway
from paykit.models import WebhookEvent, WebhookEventStatus
from paykit.stripe.handlers import HANDLED_EVENT_TYPES, HANDLERS, HandlerContext
from paykit.stripe.inbox import DONE, MAX_ERROR, STORED_ROW, describe, record_outcome, store
from paykit.stripe.signature import DEFAULT_TOLERANCE, verify_event

__all__ = [
    "DEFAULT_TOLERANCE",
    "HANDLED_EVENT_TYPES",
    "HANDLERS",
    "WebhookResponse",
    "handle_webhook",
    "process_event",
    "replay_failed",
    "verify_event",
]


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer Stripe: ``status_code`` and a JSON-safe ``body``.

    200: stored and applied (or ignored, or a duplicate); 400: the signature,
    timestamp or payload was refused (Stripe will not get a different answer
    by retrying); 500: a handler failed, the inbox row records why, and
    Stripe's retry (or :func:`replay_failed`) tries again.
    """

    status_code: int
    body: dict[str, Any]
    event_id: str | None = None


def _apply(
    session: Session, event_type: str, payload: Mapping[str, Any], ctx: HandlerContext
) -> tuple[WebhookEventStatus, str | None]:
    """Run the event's handler in a SAVEPOINT; the outcome and, if it failed, why."""
    handler = HANDLERS.get(event_type)
    if handler is None:
        # Unknown types are acknowledged: Stripe sends what the endpoint subscribed to,
        # and an error would only make it retry something paykit will never handle.
        return WebhookEventStatus.IGNORED, None
    try:
        with session.begin_nested():
            return handler(session, payload, ctx), None
    except Exception as exc:  # any failure is recorded on the row and retried
        return WebhookEventStatus.FAILED, describe(exc)[:MAX_ERROR]


def process_event(
    session: Session,
    row: WebhookEvent,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> WebhookEventStatus:
    """Apply one stored event in a SAVEPOINT and record the outcome on its inbox row.

    Returns ``processed``, ``ignored`` or ``failed``. A failure rolls back the
    handler's effects only; the row keeps the error and one more attempt.
    """
    resolved = resolve_clock(clock)
    attempts = row.attempts + 1
    outcome, error = _apply(
        session, row.type, row.payload, HandlerContext(gateway, resolved, context)
    )
    values = record_outcome(session, row.id, outcome, error, attempts, resolved.now())
    for name, value in values.items():
        set_committed_value(row, name, value)
    return outcome


@checked
def handle_webhook(
    session: Session,
    payload: bytes | str,
    signature_header: str | None,
    *,
    secrets: Sequence[str] | str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    tolerance: int | None = DEFAULT_TOLERANCE,
    defer: bool = False,
    context: RequestContext | None = None,
) -> WebhookResponse:
    """Verify, store and apply one webhook delivery; return what to answer.

    ``payload`` must be the raw request body (bytes as received: re-encoded
    JSON does not verify). ``defer=True`` only verifies and stores the event
    (status ``pending``) for a worker to apply with :func:`replay_failed`.
    The host commits the session afterwards, whatever the status code: a
    failed event's inbox row is part of what must be kept.
    """
    try:
        event = verify_event(
            payload, signature_header, secrets=secrets, tolerance=tolerance, clock=clock
        )
    except WebhookError as exc:
        return WebhookResponse(400, exc.to_dict())
    resolved = resolve_clock(clock)
    now = resolved.now()
    event_id = str(event["id"])
    handler = HANDLERS.get(str(event["type"]))
    # A new row is stored with the outcome it will most likely have, so the common
    # case needs no second write: it is only visible with the effects, in the same
    # commit, and any other ending rewrites it below before this function returns.
    if defer:
        expected = WebhookEventStatus.PENDING
    elif handler is None:
        expected = WebhookEventStatus.IGNORED  # unknown types are acknowledged (see _apply)
    else:
        expected = WebhookEventStatus.PROCESSED
    row_id, stored_status = store(session, event, now, expected)
    if stored_status in DONE:
        return WebhookResponse(
            200, {"received": True, "event_id": event_id, "status": "duplicate"}, event_id
        )
    if defer:
        return WebhookResponse(
            200, {"received": True, "event_id": event_id, "status": "pending"}, event_id
        )
    if stored_status is None:
        # Just inserted: the row holds this very event, so no ORM object is needed.
        ctx = HandlerContext(gateway, resolved, context)
        outcome = _apply_new(session, event, row_id, expected, ctx, now)
    else:
        # A failed or pending row delivered again: apply what the inbox holds.
        row = session.scalars(STORED_ROW, {"event_id": event_id}).one()
        outcome = process_event(session, row, gateway=gateway, clock=clock, context=context)
    return _answer(event_id, outcome)


def _apply_new(
    session: Session,
    event: Mapping[str, Any],
    row_id: str,
    expected: WebhookEventStatus,
    ctx: HandlerContext,
    now: datetime,
) -> WebhookEventStatus:
    """Apply a just-stored event; rewrite its row only if the outcome is not ``expected``."""
    if str(event["type"]) not in HANDLERS:
        return expected
    try:
        outcome, error = _apply(session, str(event["type"]), event, ctx)
    except BaseException:
        # Not an outcome (an interrupt, say): leave the row pending, as a
        # worker that stopped here would, in case the host commits anyway.
        with contextlib.suppress(Exception):
            record_outcome(session, row_id, WebhookEventStatus.PENDING, None, 0, now)
        raise
    if outcome is not expected:
        record_outcome(session, row_id, outcome, error, 1, ctx.clock.now())
    return outcome


def _answer(event_id: str, outcome: WebhookEventStatus) -> WebhookResponse:
    if outcome is WebhookEventStatus.FAILED:
        return WebhookResponse(
            500,
            {
                "error": {
                    "code": "webhook_handler_failed",
                    "message": "the event was stored but could not be applied; it will be retried",
                    "event_id": event_id,
                }
            },
            event_id,
        )
    return WebhookResponse(
        200, {"received": True, "event_id": event_id, "status": outcome.value}, event_id
    )


@checked
def replay_failed(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    limit: int = 100,
    event_ids: Sequence[str] | None = None,
    include_pending: bool = True,
    context: RequestContext | None = None,
) -> list[WebhookEvent]:
    """Apply stored events that failed (and, by default, pending ones), oldest event first.

    ``event_ids`` restricts it to those Stripe event ids (a processed or
    ignored event is never applied twice). Returns the rows it tried, with
    their new status. Handlers are idempotent, so two workers replaying at
    once do no harm; no row lock is taken.
    """
    statuses = [WebhookEventStatus.FAILED.value]
    if include_pending:
        statuses.append(WebhookEventStatus.PENDING.value)
    query = (
        sa.select(WebhookEvent)
        .where(WebhookEvent.status.in_(statuses))
        .order_by(WebhookEvent.event_created_at, WebhookEvent.received_at, WebhookEvent.id)
        .limit(limit)
    )
    if event_ids is not None:
        query = query.where(WebhookEvent.event_id.in_(list(event_ids)))
    rows = list(session.scalars(query.execution_options(populate_existing=True)))
    for row in rows:
        process_event(session, row, gateway=gateway, clock=clock, context=context)
    return rows
