"""Stripe webhooks: verify, store in the inbox, apply, answer.

:func:`handle_webhook` is everything a web framework's route needs::

    response = paykit.webhooks.handle_webhook(
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
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    ConfigurationError,
    InvalidSignature,
    InvalidState,
    PaykitError,
    WebhookError,
)
from paykit.gateways.base import PaymentGateway
from paykit.gateways.stripe import payment_from_stripe, refund_from_stripe
from paykit.models import (
    Order,
    OrderStatus,
    PaymentMethod,
    Refund,
    RefundReason,
    User,
    WebhookEvent,
    WebhookEventStatus,
    new_id,
)
from paykit.services import orders as order_services
from paykit.services import refunds as refund_services
from paykit.services._audit import record_audit
from paykit.services._sql import affected
from paykit.services.subscriptions import sync_invoice, sync_subscription

__all__ = [
    "DEFAULT_TOLERANCE",
    "HANDLED_EVENT_TYPES",
    "WebhookResponse",
    "handle_webhook",
    "process_event",
    "replay_failed",
    "verify_event",
]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signature's timestamp may be away from now (Stripe's own default)."""

_MAX_ERROR = 2000


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


@dataclass(frozen=True, slots=True)
class _Context:
    gateway: PaymentGateway
    clock: Clock
    request: RequestContext | None


Handler = Callable[[Session, Mapping[str, Any], _Context], WebhookEventStatus]


# --------------------------------------------------------------------- verification


# The signature rules are stripe-python's (``stripe.WebhookSignature``), rule for
# rule, so that the timestamp checked is by construction the one that was signed.
# tests/property/test_webhook_signature_props.py holds them to stripe's verifier.
_SCHEME: Final = "v1"
_SECRET_BLANKS: Final = " \t\r\n\f\v"  # what stripe-python strips to call a secret empty


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The signed timestamp and the ``v1`` signatures, parsed as stripe-python parses them.

    Items are split on ``,`` and on ``=`` without trimming, so `` t=...`` is not
    a timestamp; the first ``t`` wins; every ``v1`` is a candidate; other
    schemes are ignored; a ``t`` or ``v1`` item without ``=`` spoils the header.
    """
    items = [item.split("=", 2) for item in header.split(",")]
    # Every t item is indexed, as in stripe-python: a later bare "t" spoils the header.
    timestamp = int([item[1] for item in items if item[0] == "t"][0])  # noqa: RUF015
    return timestamp, [item[1] for item in items if item[0] == _SCHEME]


def _matches(expected: str, candidate: str) -> bool:
    try:
        return hmac.compare_digest(expected.encode("utf-8"), candidate.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def _verify_signature(
    text: str, header: str | None, secrets: Sequence[str], tolerance: int | None, now: float
) -> None:
    """Raise ``InvalidSignature`` unless ``header`` signs ``text`` recently enough."""
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    try:
        timestamp, signatures = _parse_signature_header(header)
    except (ValueError, IndexError, TypeError, AttributeError):
        raise InvalidSignature("the Stripe-Signature header cannot be parsed") from None
    if not signatures:
        raise InvalidSignature(f"the Stripe-Signature header has no {_SCHEME} signature")
    try:
        signed = f"{timestamp:d}.{text}".encode()
    except UnicodeEncodeError:
        raise InvalidSignature("the payload is not valid text") from None
    expected = [hmac.new(s.encode("utf-8"), signed, hashlib.sha256).hexdigest() for s in secrets]
    if not any(_matches(e, candidate) for e in expected for candidate in signatures):
        raise InvalidSignature("the Stripe-Signature header does not match the payload")
    # stripe-python refuses only the past side; a timestamp far in the future is
    # refused too, so a host clock that lags shows up instead of silently
    # widening the replay window (docs/stripe.md).
    if tolerance is not None and not now - tolerance <= timestamp <= now + tolerance:
        raise InvalidSignature(
            "the signature's timestamp is outside the tolerance; a replayed request?",
            code="webhook_timestamp_out_of_tolerance",
            details={"tolerance": tolerance},
        )


def verify_event(
    payload: bytes | str,
    signature_header: str | None,
    *,
    secrets: Sequence[str] | str,
    tolerance: int | None = DEFAULT_TOLERANCE,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Check the ``Stripe-Signature`` of the raw body and return the parsed event.

    The header is parsed and the HMAC checked exactly as stripe-python's
    ``WebhookSignature.verify_header`` does it, against each secret in turn
    (several secrets: for rotation, old and new are both valid while Stripe
    signs with both); a bytes body is decoded as UTF-8 first. The signed
    timestamp is checked against the injected clock: more than ``tolerance``
    seconds away, in either direction, is refused (``None`` turns the check
    off; unlike stripe-python, ``0`` does not). Raises ``InvalidSignature``
    (``invalid_signature``, ``webhook_timestamp_out_of_tolerance`` or
    ``webhook_secret_missing``) or ``WebhookError`` (``webhook_payload_invalid``);
    a ``tolerance`` that is not ``None`` or an int >= 0 is a ``ConfigurationError``
    (``webhook_tolerance_invalid``).
    """
    try:
        candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    except TypeError:
        candidates = []
    if not candidates or not all(
        isinstance(secret, str) and secret.strip(_SECRET_BLANKS) for secret in candidates
    ):
        raise InvalidSignature("no webhook secret configured", code="webhook_secret_missing")
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0
    ):
        raise ConfigurationError(
            f"tolerance must be None or a whole number of seconds >= 0, not {tolerance!r}",
            code="webhook_tolerance_invalid",
        )
    if isinstance(payload, bytes | bytearray):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError(
                "the webhook payload is not UTF-8 text", code="webhook_payload_invalid"
            ) from None
    elif isinstance(payload, str):
        text = payload
    else:
        raise WebhookError(
            f"the payload must be the raw body as bytes or str, not {type(payload).__name__}",
            code="webhook_payload_invalid",
        )
    now = resolve_clock(clock).now().timestamp()
    _verify_signature(text, signature_header, candidates, tolerance, now)
    try:
        event = json.loads(text)
        if not isinstance(event, dict):
            raise TypeError("not an object")
        for name in ("id", "type", "created"):
            if name not in event:
                raise KeyError(name)
        if not isinstance((event.get("data") or {}).get("object"), dict):
            raise KeyError("data.object")
        int(event["created"])
    except (ValueError, TypeError, KeyError) as exc:
        raise WebhookError(
            f"the webhook payload is not a Stripe event ({exc})", code="webhook_payload_invalid"
        ) from None
    return event


# --------------------------------------------------------------------- the inbox

_INBOX = cast(sa.Table, WebhookEvent.__table__)
_DONE = (WebhookEventStatus.PROCESSED.value, WebhookEventStatus.IGNORED.value)


def _store_statement(insert: Any) -> Any:
    return (
        insert(_INBOX)
        .values({column.name: sa.bindparam(column.name) for column in _INBOX.columns})
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_INBOX.c.id)
    )


# Built once per dialect: every delivery runs these, and a prebuilt statement
# skips construction and cache-key work (both spell ON CONFLICT the same way).
_STORE = {
    "postgresql": _store_statement(postgresql.insert),
    "sqlite": _store_statement(sqlite.insert),
}
_STORED_STATUS = sa.select(_INBOX.c.id, _INBOX.c.status).where(
    _INBOX.c.event_id == sa.bindparam("event_id")
)
_STORED_ROW = (
    sa.select(WebhookEvent)
    .where(WebhookEvent.event_id == sa.bindparam("event_id"))
    .execution_options(populate_existing=True)
)
_RECORD_OUTCOME = (
    sa.update(_INBOX)
    .where(_INBOX.c.id == sa.bindparam("row_id"))
    .values(
        status=sa.bindparam("new_status"),
        attempts=sa.bindparam("new_attempts"),
        last_error=sa.bindparam("new_last_error"),
        processed_at=sa.bindparam("new_processed_at"),
    )
)


def _store(
    session: Session, event: Mapping[str, Any], now: datetime, expected: WebhookEventStatus
) -> tuple[str, str | None]:
    """Insert the inbox row unless the event is already there.

    A new row is written with the ``expected`` outcome (``pending`` with no
    attempt, or ``processed``/``ignored`` with one attempt at ``now``).
    Returns the row's id and, for a row that was already there, its status
    (``None``: this call inserted it).
    """
    connection = session.connection()
    statement = _STORE["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    obj = event["data"]["object"]
    row_id = new_id()
    pending = expected is WebhookEventStatus.PENDING
    inserted = connection.execute(
        statement,
        {
            "id": row_id,
            "event_id": str(event["id"]),
            "type": str(event["type"]),
            "object_id": None if obj.get("id") is None else str(obj["id"]),
            "api_version": event.get("api_version"),
            "livemode": bool(event.get("livemode")),
            "event_created_at": datetime.fromtimestamp(int(event["created"]), tz=UTC),
            "payload": dict(event),
            "status": expected.value,
            "attempts": 0 if pending else 1,
            "last_error": None,
            "received_at": now,
            "processed_at": None if pending else now,
        },
    ).scalar_one_or_none()
    if inserted is not None:
        return row_id, None
    existing = connection.execute(_STORED_STATUS, {"event_id": str(event["id"])}).one()
    return existing.id, existing.status


def _apply(
    session: Session, event_type: str, payload: Mapping[str, Any], ctx: _Context
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
        return WebhookEventStatus.FAILED, _describe(exc)[:_MAX_ERROR]


def _describe(exc: Exception) -> str:
    """``InvalidState [payment_amount_mismatch]: ...``: the class, paykit's code, the message."""
    if isinstance(exc, PaykitError):
        return f"{type(exc).__name__} [{exc.code}]: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _record_outcome(
    session: Session,
    row_id: str,
    outcome: WebhookEventStatus,
    error: str | None,
    attempts: int,
    now: datetime,
) -> dict[str, Any]:
    """Write the outcome onto the inbox row (Core: no unit of work); the values written."""
    values = {
        "status": outcome.value,
        "attempts": attempts,
        "last_error": error,
        "processed_at": now if outcome.value in _DONE else None,
    }
    session.flush()  # anything the handler left pending goes first, as before
    session.connection().execute(
        _RECORD_OUTCOME, {"row_id": row_id, **{f"new_{k}": v for k, v in values.items()}}
    )
    return values


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
    outcome, error = _apply(session, row.type, row.payload, _Context(gateway, resolved, context))
    values = _record_outcome(session, row.id, outcome, error, attempts, resolved.now())
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
    row_id, stored_status = _store(session, event, now, expected)
    if stored_status in _DONE:
        return WebhookResponse(
            200, {"received": True, "event_id": event_id, "status": "duplicate"}, event_id
        )
    if defer:
        return WebhookResponse(
            200, {"received": True, "event_id": event_id, "status": "pending"}, event_id
        )
    if stored_status is None:
        # Just inserted: the row holds this very event, so no ORM object is needed.
        outcome = expected
        if handler is not None:
            try:
                outcome, error = _apply(
                    session, str(event["type"]), event, _Context(gateway, resolved, context)
                )
            except BaseException:
                # Not an outcome (an interrupt, say): leave the row pending, as a
                # worker that stopped here would, in case the host commits anyway.
                with contextlib.suppress(Exception):
                    _record_outcome(session, row_id, WebhookEventStatus.PENDING, None, 0, now)
                raise
            if outcome is not expected:
                _record_outcome(session, row_id, outcome, error, 1, resolved.now())
    else:
        # A failed or pending row delivered again: apply what the inbox holds.
        row = session.scalars(_STORED_ROW, {"event_id": event_id}).one()
        outcome = process_event(session, row, gateway=gateway, clock=clock, context=context)
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


# --------------------------------------------------------------------- handlers


def _object(event: Mapping[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = event["data"]["object"]
    return obj


def _created(event: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event["created"]), tz=UTC)


def _order_id_for(session: Session, payment_id: str) -> str | None:
    return session.scalar(sa.select(Order.id).where(Order.stripe_payment_intent_id == payment_id))


def _payment_succeeded(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    payment = payment_from_stripe(_object(event))
    order_id = _order_id_for(session, payment.id)
    if order_id is None:
        return WebhookEventStatus.IGNORED  # not an order's payment (e.g. a subscription invoice)
    order = session.get(Order, order_id, populate_existing=True)
    assert order is not None
    try:
        # With the gateway: a payment for another amount than the order's is
        # refunded and the order cancelled, instead of failing on every delivery.
        order_services.apply_payment(
            session,
            order=order,
            payment=payment,
            gateway=ctx.gateway,
            clock=ctx.clock,
            context=ctx.request,
        )
    except InvalidState as exc:
        if exc.code != "order_cancelled":
            raise
        # Money arrived for an order that was cancelled meanwhile: someone must refund
        # it. Retrying cannot change that, so record it for people and acknowledge.
        record_audit(
            session,
            action="order.paid_after_cancel",
            resource="orders",
            resource_id=order_id,
            now=ctx.clock.now(),
            new={"payment_id": payment.id, "amount_minor": payment.amount_minor},
            context=ctx.request,
        )
    return WebhookEventStatus.PROCESSED


def _payment_failed(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    payment = payment_from_stripe(_object(event))
    order_id = _order_id_for(session, payment.id)
    if order_id is None:
        return WebhookEventStatus.IGNORED
    # The event's object may be stale (a later attempt may have succeeded):
    # the gateway's current state decides.
    order_services.fail_order_payment(
        session, order_id=order_id, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    return WebhookEventStatus.PROCESSED


def _payment_canceled(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    payment_id = str(_object(event)["id"])
    order_id = _order_id_for(session, payment_id)
    if order_id is None:
        return WebhookEventStatus.IGNORED
    order = order_services.sync_order_payment(
        session, order_id=order_id, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    if order.status is not OrderStatus.CANCELLED:
        return WebhookEventStatus.IGNORED  # a paid order stays paid
    return WebhookEventStatus.PROCESSED


_REFUND_REASONS: Mapping[str, RefundReason] = {
    "requested_by_customer": RefundReason.REQUESTED_BY_CUSTOMER,
    "duplicate": RefundReason.DUPLICATE,
    "fraudulent": RefundReason.FRAUDULENT,
}


def _apply_refund(session: Session, obj: Mapping[str, Any], ctx: _Context) -> WebhookEventStatus:
    refund = refund_from_stripe(obj)
    exists = session.scalar(sa.select(Refund.id).where(Refund.stripe_refund_id == refund.id))
    if exists is not None:
        refund_services.sync_refund(
            session, gateway_refund=refund, clock=ctx.clock, context=ctx.request
        )
        return WebhookEventStatus.PROCESSED
    order = session.scalar(
        sa.select(Order).where(Order.stripe_payment_intent_id == refund.payment_id)
    )
    if order is None:
        return WebhookEventStatus.IGNORED
    # A refund made at the gateway (the dashboard), or one whose issue_refund has
    # not committed yet: record it; the unique stripe_refund_id counts it once.
    metadata = obj.get("metadata") or {}
    try:
        reason = RefundReason(str(metadata.get("paykit_reason")))
    except ValueError:
        reason = _REFUND_REASONS.get(str(refund.reason), RefundReason.OTHER)
    refund_services.record_gateway_refund(
        session,
        order=order,
        gateway_refund=refund,
        reason=reason,
        notes="recorded from a gateway webhook",
        clock=ctx.clock,
        context=ctx.request,
    )
    return WebhookEventStatus.PROCESSED


def _refund_event(session: Session, event: Mapping[str, Any], ctx: _Context) -> WebhookEventStatus:
    return _apply_refund(session, _object(event), ctx)


def _charge_refunded(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    # Since API 2022-11-15 a charge no longer embeds its refunds; refund.* events
    # carry them. Older payloads that do embed them are applied here.
    refunds = ((_object(event).get("refunds") or {}).get("data")) or []
    outcomes = [_apply_refund(session, refund, ctx) for refund in refunds]
    if WebhookEventStatus.PROCESSED in outcomes:
        return WebhookEventStatus.PROCESSED
    return WebhookEventStatus.IGNORED


def _subscription_event(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    sync_subscription(session, event, clock=ctx.clock, gateway=ctx.gateway, context=ctx.request)
    return WebhookEventStatus.PROCESSED


def _trial_will_end(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    row = sync_subscription(
        session, event, clock=ctx.clock, gateway=ctx.gateway, context=ctx.request
    )
    # A reminder for the host (e.g. to e-mail the customer); nothing changes state.
    record_audit(
        session,
        action="subscription.trial_will_end",
        resource="subscriptions",
        resource_id=row.id,
        now=ctx.clock.now(),
        actor_id=row.user_id,
        new={"trial_end": row.trial_end},
        context=ctx.request,
    )
    return WebhookEventStatus.PROCESSED


def _invoice_event(session: Session, event: Mapping[str, Any], ctx: _Context) -> WebhookEventStatus:
    row = sync_invoice(session, event, clock=ctx.clock, gateway=ctx.gateway, context=ctx.request)
    return WebhookEventStatus.IGNORED if row is None else WebhookEventStatus.PROCESSED


def _newer_event_applied(session: Session, event: Mapping[str, Any], types: Sequence[str]) -> bool:
    """True if an event of ``types`` about the same object, created no earlier, was applied."""
    object_id = _object(event).get("id")
    return (
        session.scalar(
            sa.select(WebhookEvent.id)
            .where(
                WebhookEvent.object_id == object_id,
                WebhookEvent.type.in_(list(types)),
                WebhookEvent.event_id != event["id"],
                WebhookEvent.status == WebhookEventStatus.PROCESSED.value,
                WebhookEvent.event_created_at >= _created(event),
            )
            .limit(1)
        )
        is not None
    )


def _user_by_customer(session: Session, customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    return session.scalar(sa.select(User).where(User.stripe_customer_id == customer_id))


def _payment_method_attached(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    obj = _object(event)
    customer = obj.get("customer")
    user = _user_by_customer(session, customer if isinstance(customer, str) else None)
    if user is None or _newer_event_applied(
        session, event, ["payment_method.attached", "payment_method.detached"]
    ):
        return WebhookEventStatus.IGNORED
    card = obj.get("card")
    display = None
    if isinstance(card, Mapping):
        # Display data only; never anything that could identify the card number.
        display = {
            k: card.get(k)
            for k in ("brand", "last4", "exp_month", "exp_year", "funding", "country")
        }
    now = ctx.clock.now()
    values = {
        "user_id": user.id,
        "type": str(obj.get("type") or "card"),
        "card": display,
        "billing_details": obj.get("billing_details"),
        "updated_at": now,
    }
    stripe_id = str(obj["id"])
    existing = session.scalar(
        sa.select(PaymentMethod.id).where(PaymentMethod.stripe_payment_method_id == stripe_id)
    )
    if existing is None:
        try:
            with session.begin_nested():
                row = PaymentMethod(stripe_payment_method_id=stripe_id, created_at=now, **values)
                session.add(row)
                session.flush()
            existing = row.id
        except IntegrityError:
            existing = None
    if existing is None:
        affected(
            session,
            sa.update(PaymentMethod)
            .where(PaymentMethod.stripe_payment_method_id == stripe_id)
            .values(**values),
        )
    record_audit(
        session,
        action="payment_method.attached",
        resource="payment_methods",
        resource_id=stripe_id,
        now=now,
        actor_id=user.id,
        new={"stripe_payment_method_id": stripe_id, "card": display},
        context=ctx.request,
    )
    return WebhookEventStatus.PROCESSED


def _payment_method_detached(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    obj = _object(event)
    stripe_id = str(obj["id"])
    if _newer_event_applied(session, event, ["payment_method.attached", "payment_method.detached"]):
        return WebhookEventStatus.IGNORED
    row = session.scalar(
        sa.select(PaymentMethod).where(PaymentMethod.stripe_payment_method_id == stripe_id)
    )
    if row is None:
        # Processed anyway: a late "attached" must see that the method is gone.
        return WebhookEventStatus.PROCESSED
    user_id = row.user_id
    session.execute(sa.delete(PaymentMethod).where(PaymentMethod.id == row.id))
    record_audit(
        session,
        action="payment_method.detached",
        resource="payment_methods",
        resource_id=stripe_id,
        now=ctx.clock.now(),
        actor_id=user_id,
        old={"stripe_payment_method_id": stripe_id},
        context=ctx.request,
    )
    return WebhookEventStatus.PROCESSED


def _customer_updated(
    session: Session, event: Mapping[str, Any], ctx: _Context
) -> WebhookEventStatus:
    obj = _object(event)
    user = _user_by_customer(session, str(obj.get("id")))
    if user is None or _newer_event_applied(session, event, ["customer.updated"]):
        return WebhookEventStatus.IGNORED
    # paykit owns the user's profile; from Stripe it takes only the default method.
    default = (obj.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(default, Mapping):
        default = default.get("id")
    now = ctx.clock.now()
    target: Any = (
        sa.false() if default is None else PaymentMethod.stripe_payment_method_id == default
    )
    changed = affected(
        session,
        sa.update(PaymentMethod)
        .where(PaymentMethod.user_id == user.id, PaymentMethod.is_default.is_distinct_from(target))
        .values(is_default=target, updated_at=now),
    )
    if changed:
        record_audit(
            session,
            action="payment_method.default_changed",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=user.id,
            new={"default_payment_method": default},
            context=ctx.request,
        )
    return WebhookEventStatus.PROCESSED


HANDLERS: Mapping[str, Handler] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "payment_intent.canceled": _payment_canceled,
    "charge.refunded": _charge_refunded,
    "refund.created": _refund_event,
    "refund.updated": _refund_event,
    "refund.failed": _refund_event,
    "customer.subscription.created": _subscription_event,
    "customer.subscription.updated": _subscription_event,
    "customer.subscription.deleted": _subscription_event,
    "customer.subscription.paused": _subscription_event,
    "customer.subscription.resumed": _subscription_event,
    "customer.subscription.trial_will_end": _trial_will_end,
    "invoice.created": _invoice_event,
    "invoice.finalized": _invoice_event,
    "invoice.updated": _invoice_event,
    "invoice.paid": _invoice_event,
    "invoice.payment_succeeded": _invoice_event,
    "invoice.payment_failed": _invoice_event,
    "invoice.voided": _invoice_event,
    "invoice.marked_uncollectible": _invoice_event,
    "payment_method.attached": _payment_method_attached,
    "payment_method.detached": _payment_method_detached,
    "customer.updated": _customer_updated,
}

HANDLED_EVENT_TYPES: frozenset[str] = frozenset(HANDLERS)
"""The event types paykit applies; subscribe your Stripe endpoint to these."""
