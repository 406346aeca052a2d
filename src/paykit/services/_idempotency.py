"""Claiming an idempotency key in the database, safely under concurrency."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit.errors import IdempotencyConflict, ValidationError
from paykit.models import IdempotencyKey, new_id

__all__ = ["claim", "claim_cte", "claim_params", "record", "request_hash"]


def _claim_statement(insert: Any) -> Any:
    """The claim: insert the key's row unless taken, returning its id (parameters
    ``k_<column>``, from :func:`claim_params`)."""
    columns = ("id", "scope", "key", "user_id", "request_hash", "resource_id", "created_at")
    return (
        insert(IdempotencyKey)
        .values({name: sa.bindparam(f"k_{name}") for name in columns})
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(IdempotencyKey.id)
    )


def claim_cte() -> Any:
    """PostgreSQL: the claim as a data-modifying CTE named ``claim``, to ride along
    with a service's first read (parameters ``k_<column>``); ``SELECT id FROM
    claim`` is the new row's id, or nothing when the key was taken."""
    return _claim_statement(postgresql.insert).cte("claim")


def claim_params(
    *,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    resource_id: str | None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The parameters of :func:`claim_cte`; ``user_id`` is the customer the call is for."""
    if not key or len(key) > 255:
        raise ValidationError("idempotency_key must be 1 to 255 characters")
    return {
        "k_id": new_id(),
        "k_scope": scope,
        "k_key": key,
        "k_user_id": user_id,
        "k_request_hash": fingerprint,
        "k_resource_id": resource_id,
        "k_created_at": now,
    }


# Built once per dialect (both spell ON CONFLICT DO NOTHING the same way).
_CLAIM = {
    "postgresql": _claim_statement(postgresql.insert),
    "sqlite": _claim_statement(sqlite.insert),
}


def request_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of a call's parameters (canonical JSON, sorted keys)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def claim(
    session: Session,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    resource_id: str | None = None,
    user_id: str | None = None,
) -> IdempotencyKey | None:
    """Claim ``key`` for ``scope``. Returns None if this call now owns it, else the
    earlier call's record (same parameters) to replay.

    The insert is ``ON CONFLICT DO NOTHING``: a parallel call with the same key
    waits on the unique index until the first transaction ends, then finds its
    committed row. A key reused with other parameters raises
    ``IdempotencyConflict``. ``resource_id`` may name, up front, the row this
    call is about to create (it lives and dies with the same transaction).
    ``user_id`` is the customer the call acts for: under row-level security a
    customer sees only their own keys, so a key another customer holds is an
    ``IdempotencyConflict`` too.
    """
    values = claim_params(
        scope=scope,
        key=key,
        fingerprint=fingerprint,
        now=now,
        resource_id=resource_id,
        user_id=user_id,
    )
    connection = session.connection()
    statement = _CLAIM["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    if connection.execute(statement, values).scalar_one_or_none() is not None:
        return None
    existing = session.execute(
        sa.select(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if existing is None or existing.request_hash != fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used with different parameters",
            details={"scope": scope},
        )
    return existing


def record(
    session: Session,
    *,
    scope: str,
    key: str,
    resource_id: str | None,
    outcome: Mapping[str, Any] | None = None,
) -> None:
    """Record what the owning call produced, for later replays."""
    session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(resource_id=resource_id, outcome=dict(outcome) if outcome else None)
    )
