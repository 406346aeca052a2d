"""Audit log rows written by every state-changing service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from paykit.context import RequestContext
from paykit.models import AuditLog
from paykit.services._sql import insert_objects

__all__ = ["MASK", "mask_values", "record_audit"]

MASK = "***"
# Keys whose values are secrets or personal data: never written to the log.
_SENSITIVE = (
    "password",
    "token",
    "secret",
    "card",
    "tax_id",
    "phone",
    "date_of_birth",
    "billing_address",
    "shipping_address",
    "address",
    "client_secret",
)


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


def mask_values(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy of ``values`` with secrets and personal data replaced by ``***``."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        lowered = key.lower()
        if any(word in lowered for word in _SENSITIVE) and value is not None:
            out[key] = MASK
        else:
            out[key] = _json_safe(value)
    return out


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
    """Add an ``AuditLog`` row to the session (flushed with the service's other writes)."""
    row = AuditLog(
        user_id=actor_id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        old_values=mask_values(old),
        new_values=mask_values(new),
        metadata_=_json_safe(dict(metadata or {})),
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else None,
        created_at=now,
    )
    insert_objects(session, row)
    return row
