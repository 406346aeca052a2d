"""Retention: delete (and optionally archive) old operational rows by age.

What is purged, and what never is (docs/operations.md, "Retention"):

=======================  ===========================================  ===============
kind                     rows                                         default age
=======================  ===========================================  ===============
``audit_logs``           every audit row older than the age           730 days
``webhook_events``       inbox rows *processed* or *ignored*          90 days
                         (``failed`` and ``pending`` are kept: they
                         still need a replay)
``idempotency_keys``     stored results of keyed calls                30 days
``sessions``             sessions expired longer ago than the age     0 days
``user_tokens``          e-mail / reset tokens expired or used        0 days
``login_attempts``       throttle windows that started before it      1 day
=======================  ===========================================  ===============

``None`` as an age keeps that kind forever. Orders, refunds, payments,
subscriptions and invoices are money records: retention never touches them.

Deleting audit rows records the cut-off in ``system_config``
(``paykit.retention.audit_before``), and ``paykit check`` then expects audit
rows only for orders and refunds created after it. An idempotency key older
than its age no longer protects a retry: keep the age above the longest time
a host may retry a call (the gateway's own keys expire after 24 hours at Stripe).

Rows go in batches (``batch_size``) so a large purge never holds long locks,
oldest first. With ``dry_run=True`` nothing is deleted and the report gives
the counts that would be. ``archive`` (a callable) receives each row as a
``dict`` before it is deleted, e.g. to write JSON lines to cold storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import check_fields, checked
from paykit.clock import Clock, resolve_clock
from paykit.errors import ValidationError
from paykit.models import (
    AuditLog,
    IdempotencyKey,
    LoginAttempt,
    SystemConfig,
    WebhookEvent,
)
from paykit.models import Session as UserSession
from paykit.models.config import AUDIT_CUTOFF_KEY
from paykit.models.users import UserToken
from paykit.security.rls import system_scope

__all__ = [
    "AUDIT_CUTOFF_KEY",
    "DEFAULT_RETENTION",
    "RetentionPolicy",
    "RetentionReport",
    "purge_old_records",
]

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept; ``None`` keeps it forever."""

    audit_logs: timedelta | None = timedelta(days=730)
    webhook_events: timedelta | None = timedelta(days=90)
    idempotency_keys: timedelta | None = timedelta(days=30)
    sessions: timedelta | None = timedelta(0)
    user_tokens: timedelta | None = timedelta(0)
    login_attempts: timedelta | None = timedelta(days=1)

    def __post_init__(self) -> None:
        check_fields(self)

    def ages(self) -> dict[str, timedelta | None]:
        """Kind -> age, in the order :func:`purge_old_records` goes through them."""
        return {
            "audit_logs": self.audit_logs,
            "webhook_events": self.webhook_events,
            "idempotency_keys": self.idempotency_keys,
            "sessions": self.sessions,
            "user_tokens": self.user_tokens,
            "login_attempts": self.login_attempts,
        }


#: paykit's defaults (see the module's table).
DEFAULT_RETENTION = RetentionPolicy()


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """Rows deleted per kind (or that would be, when ``dry_run``), and each kind's cut-off."""

    dry_run: bool
    deleted: Mapping[str, int] = field(default_factory=dict)
    cutoffs: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows deleted (or that would be) over all kinds."""
        return sum(self.deleted.values())

    def format(self) -> str:
        """One line per kind, for a terminal or a log."""
        verb = "would delete" if self.dry_run else "deleted"
        lines = [
            f"{kind}: {verb} {count} row(s) older than {self.cutoffs[kind].isoformat()}"
            for kind, count in self.deleted.items()
        ]
        return "\n".join(lines or ["nothing to purge (every kind is kept forever)"])


def _target(kind: str, cutoff: datetime) -> tuple[Any, Any, list[sa.ColumnElement[bool]]]:
    """(table, age column, conditions) of the rows of ``kind`` past ``cutoff``."""
    if kind == "audit_logs":
        return AuditLog, AuditLog.created_at, [AuditLog.created_at < cutoff]
    if kind == "webhook_events":
        done = WebhookEvent.status.in_(("processed", "ignored"))
        return WebhookEvent, WebhookEvent.received_at, [done, WebhookEvent.received_at < cutoff]
    if kind == "idempotency_keys":
        return IdempotencyKey, IdempotencyKey.created_at, [IdempotencyKey.created_at < cutoff]
    if kind == "sessions":
        return UserSession, UserSession.expires_at, [UserSession.expires_at < cutoff]
    if kind == "user_tokens":
        ended = sa.or_(UserToken.expires_at < cutoff, UserToken.used_at < cutoff)
        return UserToken, UserToken.created_at, [ended]
    return LoginAttempt, LoginAttempt.window_started_at, [LoginAttempt.window_started_at < cutoff]


def _row_dict(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in sa.inspect(type(row)).column_attrs}


def _purge_kind(
    session: Session,
    kind: str,
    cutoff: datetime,
    *,
    dry_run: bool,
    batch_size: int,
    archive: Callable[[str, dict[str, Any]], None] | None,
) -> int:
    model, age, where = _target(kind, cutoff)
    if dry_run:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)
    total = 0
    while True:
        if archive is not None:
            rows = session.scalars(
                sa.select(model).where(*where).order_by(age, model.id).limit(batch_size)
            ).all()
            for row in rows:
                archive(kind, _row_dict(row))
            ids = [row.id for row in rows]
            for row in rows:
                session.expunge(row)
        else:
            ids = list(
                session.scalars(
                    sa.select(model.id).where(*where).order_by(age, model.id).limit(batch_size)
                )
            )
        if not ids:
            return total
        session.execute(
            sa.delete(model).where(model.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        total += len(ids)
        if len(ids) < batch_size:
            return total


def _record_audit_cutoff(session: Session, cutoff: datetime, now: datetime) -> None:
    row = session.scalar(
        sa.select(SystemConfig).where(SystemConfig.key == AUDIT_CUTOFF_KEY).with_for_update()
    )
    if row is None:
        session.add(
            SystemConfig(
                key=AUDIT_CUTOFF_KEY, value=cutoff.isoformat(), created_at=now, updated_at=now
            )
        )
    elif datetime.fromisoformat(row.value) < cutoff:
        row.value = cutoff.isoformat()
        row.updated_at = now
    session.flush()


@checked
def purge_old_records(
    session: Session,
    *,
    policy: RetentionPolicy = DEFAULT_RETENTION,
    dry_run: bool = False,
    batch_size: int = 10_000,
    archive: Callable[[str, dict[str, Any]], None] | None = None,
    clock: Clock | None = None,
) -> RetentionReport:
    """Delete the rows ``policy`` no longer keeps (a periodic job; see the module).

    Runs as SYSTEM under row-level security. The host commits; a failure part
    way leaves everything to the host's rollback. ``batch_size`` is 1..100,000.
    """
    if not isinstance(policy, RetentionPolicy):
        raise ValidationError("policy must be a RetentionPolicy", details={"field": "policy"})
    now = resolve_clock(clock).now()
    deleted: dict[str, int] = {}
    cutoffs: dict[str, datetime] = {}
    with system_scope(session):
        for kind, age in policy.ages().items():
            if age is None:
                continue
            if age < timedelta(0):
                raise ValidationError(f"the age of {kind} is negative", details={"field": kind})
            cutoff = now - age
            cutoffs[kind] = cutoff
            deleted[kind] = _purge_kind(
                session, kind, cutoff, dry_run=dry_run, batch_size=batch_size, archive=archive
            )
            if kind == "audit_logs" and not dry_run and deleted[kind]:
                _record_audit_cutoff(session, cutoff, now)
    session.flush()
    return RetentionReport(dry_run=dry_run, deleted=deleted, cutoffs=cutoffs)
