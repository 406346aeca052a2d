"""The webhook inbox: one ``paykit_webhook_events`` row per Stripe event id.

A delivery is stored in the host's transaction, with its effects; a repeated
delivery finds the row and is a no-op. The statements are built once, as
every delivery runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit.errors import PaykitError
from paykit.models import WebhookEvent, WebhookEventStatus, new_id
from paykit.stripe.objects import timestamp

__all__ = ["DONE", "MAX_ERROR", "STORED_ROW", "describe", "record_outcome", "store"]

MAX_ERROR: Final = 2000
"""The longest ``last_error`` kept on a row."""

_INBOX = cast(sa.Table, WebhookEvent.__table__)
DONE = (WebhookEventStatus.PROCESSED.value, WebhookEventStatus.IGNORED.value)


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
STORED_ROW = (
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


def store(
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
            "event_created_at": timestamp(event["created"]),
            "payload": dict(event),
            "status": expected.value,
            "attempts": 0 if pending else 1,
            "last_error": None,
            "received_at": now,
            "processed_at": None if pending else now,
            "next_attempt_at": None,
        },
    ).scalar_one_or_none()
    if inserted is not None:
        return row_id, None
    existing = connection.execute(_STORED_STATUS, {"event_id": str(event["id"])}).one()
    return existing.id, existing.status


def describe(exc: Exception) -> str:
    """``InvalidState [payment_amount_mismatch]: ...``: the class, paykit's code, the message."""
    if isinstance(exc, PaykitError):
        return f"{type(exc).__name__} [{exc.code}]: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def record_outcome(
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
        "processed_at": now if outcome.value in DONE else None,
    }
    session.flush()  # anything the handler left pending goes first, as before
    session.connection().execute(
        _RECORD_OUTCOME, {"row_id": row_id, **{f"new_{k}": v for k, v in values.items()}}
    )
    return values
