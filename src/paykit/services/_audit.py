"""Audit log rows written by every state-changing service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from paykit.context import RequestContext
from paykit.models import AuditLog
from paykit.services._notify import emit_for_audit
from paykit.services._sql import insert_objects

__all__ = [
    "MASK",
    "Audit",
    "apply_changes",
    "build_audit",
    "mask_values",
    "record_audit",
    "record_changes",
]

MASK = "***"
# Key fragments whose values are secrets or personal data: never written to the
# log. Matched anywhere in a key, case-insensitively, at every nesting level.
_SENSITIVE = (
    # secrets
    "password",
    "token",
    "secret",
    "card",
    "cvc",
    "cvv",
    "iban",
    "account_number",
    "api_key",
    "authorization",
    "private_key",
    # personal data
    "email",
    "first_name",
    "last_name",
    "full_name",
    "tax_id",
    "phone",
    "date_of_birth",
    "birth",
    "ssn",
    "billing_address",
    "shipping_address",
    "address",
    "avatar",
)
# Keys that are personal data only on a person: a user's "name", not a product's.
_PERSONAL_RESOURCES = frozenset({"users"})
_PERSONAL_KEYS = frozenset({"name", "username"})


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _sensitive(key: str, personal: bool) -> bool:
    lowered = key.lower()
    if personal and lowered in _PERSONAL_KEYS:
        return True
    return any(word in lowered for word in _SENSITIVE)


def _mask(value: Any, personal: bool) -> Any:
    if isinstance(value, Mapping):
        return {
            str(k): (
                # A flag (email_verified) or a missing value says nothing secret.
                MASK
                if _sensitive(str(k), personal) and v is not None and not isinstance(v, bool)
                else _mask(v, personal)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v, personal) for v in value]
    return _json_safe(value)


def mask_values(
    values: Mapping[str, Any] | None, *, personal: bool = False
) -> dict[str, Any] | None:
    """A JSON-safe copy of ``values`` with secrets and personal data replaced by ``***``.

    Masks at every nesting level. ``personal=True`` (set for rows about people,
    such as ``users``) also masks plain ``name`` keys. Booleans and ``None``
    are kept: "phone changed to ***" is useful, "email_verified: ***" is not.
    """
    if values is None:
        return None
    masked: dict[str, Any] = _mask(values, personal)
    return masked


def build_audit(
    session: Session,
    *,
    action: str,
    resource: str,
    resource_id: str | None,
    now: datetime,
    actor_id: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    context: RequestContext | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> AuditLog:
    """An ``AuditLog`` row, masked and ready to insert (see :func:`record_audit`)."""
    row = AuditLog(
        user_id=actor_id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        old_values=mask_values(old, personal=resource in _PERSONAL_RESOURCES),
        new_values=mask_values(new, personal=resource in _PERSONAL_RESOURCES),
        metadata_=mask_values(metadata or {}),
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else None,
        created_at=now,
    )
    return row


def record_audit(
    session: Session,
    *,
    action: str,
    resource: str,
    resource_id: str | None,
    now: datetime,
    actor_id: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    context: RequestContext | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Write an ``AuditLog`` row now (the fields as :func:`build_audit`), and queue the
    notification event the change means, if a notifier is attached to the session."""
    row = build_audit(
        session,
        action=action,
        resource=resource,
        resource_id=resource_id,
        now=now,
        actor_id=actor_id,
        old=old,
        new=new,
        context=context,
        metadata=metadata,
    )
    insert_objects(session, row)
    emit_for_audit(
        session, action=action, resource=resource, resource_id=resource_id, now=now, new=new
    )
    return row


def apply_changes(
    row: Any, values: Mapping[str, Any], *, keep_on_none: Callable[[str], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set each of ``values`` that differs on ``row``; the ``(old, new)`` of what changed.

    A ``None`` value of a field for which ``keep_on_none(name)`` holds (a NOT NULL
    column) means "leave it alone" and is skipped.
    """
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name, value in values.items():
        if value is None and keep_on_none(name):
            continue
        current = getattr(row, name)
        if current != value:
            old[name], new[name] = current, value
            setattr(row, name, value)
    return old, new


def record_changes(
    session: Session,
    row: Any,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    action: str,
    resource: str,
    now: datetime,
    actor_id: str | None,
    context: RequestContext | None,
) -> None:
    """If anything changed: stamp ``row.updated_at``, audit ``old`` → ``new``, flush."""
    Audit(session, now, actor_id, context).changes(row, old, new, action=action, resource=resource)


@dataclass(frozen=True, slots=True)
class Audit:
    """An audit recorder bound once per call: the session, the time, the actor, the request.

    ``audit = Audit(session, now, actor.user_id, context)`` at the top of a
    service; then ``audit.record(action, resource, resource_id, new=...)`` for
    each row (what :func:`record_audit` writes, then a flush) and
    ``audit.changes(row, old, new, ...)`` for a change set (:func:`record_changes`).
    """

    session: Session
    now: datetime
    actor_id: str | None
    context: RequestContext | None = None

    def record(
        self,
        action: str,
        resource: str,
        resource_id: str | None,
        *,
        old: Mapping[str, Any] | None = None,
        new: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AuditLog:
        """Write one audit row with the bound fields, then flush the session."""
        row = record_audit(
            self.session,
            action=action,
            resource=resource,
            resource_id=resource_id,
            now=self.now,
            actor_id=self.actor_id,
            old=old,
            new=new,
            context=self.context,
            metadata=metadata,
        )
        self.session.flush()
        return row

    def changes(
        self,
        row: Any,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        *,
        action: str,
        resource: str,
    ) -> None:
        """:func:`record_changes` with the bound fields: nothing unless ``new`` has a change.

        If anything changed: stamp ``row.updated_at``, :meth:`record` ``old`` → ``new``
        (which flushes).
        """
        if not new:
            return
        row.updated_at = self.now
        self.record(action, resource, row.id, old=old, new=new)
