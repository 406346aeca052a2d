"""Writing a synced row: INSERT unless taken, or a guarded UPDATE of what changed, audited.

Subscriptions and invoices are written the same way; :class:`SyncedTable`
holds what differs between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from paykit.context import RequestContext
from paykit.models import new_id
from paykit.services._audit import Audit
from paykit.services.subscriptions.statements import attribute_columns, update_statement

_Row = TypeVar("_Row")


@dataclass(frozen=True, slots=True)
class SyncedTable:
    """What differs between syncing a subscription and an invoice."""

    model: type[Any]
    table: sa.Table
    columns: Mapping[str, str]
    inserts: Mapping[str, Any]
    fields: tuple[str, ...]
    stripe_key: str
    action: str
    resource: str
    # Columns the gateway does not sync, with the value a new row starts with.
    defaults: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        model: type[Any],
        inserts: Mapping[str, Any],
        fields: tuple[str, ...],
        stripe_key: str,
        defaults: Mapping[str, Any] | None = None,
    ) -> SyncedTable:
        """The table of ``model``, audited as ``<singular>.synced`` under its table name."""
        table = cast(sa.Table, model.__table__)
        singular = table.name.removesuffix("s")
        columns = attribute_columns(model)
        return cls(
            model,
            table,
            columns,
            inserts,
            fields,
            stripe_key,
            f"{singular}.synced",
            table.name,
            dict(defaults or {}),
        )


def conditional_update(
    session: Session,
    table: sa.Table,
    attribute_columns: Mapping[str, str],
    row_id: str,
    changes: Mapping[str, Any],
    stamp: datetime | None,
    now: datetime,
    guard: Mapping[str, Any] | None,
) -> bool:
    """Write ``changes`` (ORM attribute names), the stamp and ``updated_at`` to one row.

    True if the row matched (``guard``, when given, is the ordering condition's
    parameters), False if a newer state was there first.
    """
    columns = tuple(attribute_columns[name] for name in changes)
    parameters = {f"set_{attribute_columns[name]}": value for name, value in changes.items()}
    parameters.update(set_stripe_event_created_at=stamp, set_updated_at=now, row_id=row_id)
    if guard is not None:
        parameters.update(guard)
    statement = update_statement(table, columns, guard is not None)
    result = session.connection().execute(statement, parameters)
    return bool(cast(sa.CursorResult[Any], result).rowcount)


def insert_or_nothing(
    session: Session,
    model: type[_Row],
    statements: Mapping[str, Any],
    attribute_columns: Mapping[str, str],
    values: Mapping[str, Any],
) -> _Row | None:
    """INSERT a row unless a unique value is taken; the new row as a loaded ORM object.

    One round trip (``INSERT ... ON CONFLICT DO NOTHING RETURNING``) instead of
    a SAVEPOINT, the INSERT and its release. ``values`` must name every
    column; ``None`` means a parallel writer got there first.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()  # rows this one refers to (an imported price) must exist first
    connection = session.connection()
    statement = statements["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    parameters = {attribute_columns[name]: value for name, value in values.items()}
    if connection.execute(statement, parameters).scalar_one_or_none() is None:
        return None
    row = model(**values)
    # Attached as if loaded: the session holds exactly what was written.
    make_transient_to_detached(row)
    session.add(row)
    return row


def changes(row: Any, values: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in fields if getattr(row, name) != values[name]}


def committed(row: Any, values: Mapping[str, Any]) -> None:
    """Put what a won conditional UPDATE wrote onto the loaded row (saves a re-SELECT)."""
    for name, value in values.items():
        set_committed_value(row, name, value)


def insert_synced(
    session: Session,
    kind: SyncedTable,
    stripe_id: str,
    values: Mapping[str, Any],
    *,
    created: datetime | None,
    now: datetime,
    actor_id: str,
    context: RequestContext | None,
) -> Any | None:
    """Insert and audit a new row; ``None`` if a parallel delivery inserted it first."""
    inserted = insert_or_nothing(
        session,
        kind.model,
        kind.inserts,
        kind.columns,
        {
            "id": new_id(),
            kind.stripe_key: stripe_id,
            **kind.defaults,
            **values,
            "stripe_event_created_at": created,
            "created_at": now,
            "updated_at": now,
        },
    )
    if inserted is not None:
        Audit(session, now, actor_id, context).record(
            kind.action, kind.resource, inserted.id, new={kind.stripe_key: stripe_id, **values}
        )
    return inserted


def update_synced(
    session: Session,
    kind: SyncedTable,
    row: _Row,
    values: Mapping[str, Any],
    *,
    created: datetime | None,
    guard: Mapping[str, Any] | None,
    now: datetime,
    actor_id: str,
    context: RequestContext | None,
) -> _Row:
    """Write what changed (and the newer event stamp) under ``guard``; audit a won change."""
    stored = cast(Any, row).stripe_event_created_at
    new_stamp = stored
    if created is not None:
        new_stamp = created if stored is None else max(stored, created)
    changed = changes(row, values, kind.fields)
    if not changed and new_stamp == stored:
        return row
    old = {name: getattr(row, name) for name in changed}
    row_id = cast(Any, row).id
    won = conditional_update(
        session, kind.table, kind.columns, row_id, changed, new_stamp, now, guard
    )
    if won:
        committed(row, {**changed, "stripe_event_created_at": new_stamp, "updated_at": now})
    else:
        session.refresh(row)
    if won and changed:
        audit = Audit(session, now, actor_id, context)
        audit.record(kind.action, kind.resource, row_id, old=old, new=changed)
    session.flush()
    return row
