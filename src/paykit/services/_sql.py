"""Small SQL helpers shared by the services."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

__all__ = ["affected", "insert_objects"]


def affected(session: Session, statement: sa.Executable) -> int:
    """Execute a Core UPDATE/DELETE without touching the identity map; rows affected.

    The count is what makes a conditional update a guard: 1 means this call
    won, 0 means the condition (stock left, uses left, state) did not hold.
    """
    # Straight to the connection: the ORM's bulk-update layer would only add cost.
    result = session.connection().execute(statement)
    return int(cast(sa.CursorResult[Any], result).rowcount)


def insert_objects(session: Session, *objects: Any) -> None:
    """INSERT new ORM objects with Core statements, then attach them to the session
    as if they had been loaded.

    The unit of work costs several times a plain INSERT per object; the hot
    paths (place_order, audit rows) write through here instead. Column
    defaults that live in Python (ids, timestamps, ``{}``) are filled in on the
    objects first, so the attached objects hold exactly what was written.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()  # rows these may reference (a new user, say) must exist first
    by_table: dict[sa.Table, list[dict[str, Any]]] = {}
    for obj in objects:
        mapper = sa.inspect(type(obj))
        table = mapper.local_table
        row: dict[str, Any] = {}
        for column in table.columns:
            attr = mapper.get_property_by_column(column).key
            value = obj.__dict__.get(attr, _MISSING)
            if value is _MISSING:
                default = column.default
                if default is None:
                    value = None
                elif default.is_callable:
                    value = default.arg(None)
                else:
                    value = default.arg
                setattr(obj, attr, value)
            row[column.name] = value
        by_table.setdefault(table, []).append(row)
    connection = session.connection()
    for table, rows in by_table.items():
        connection.execute(table.insert(), rows)
    # All detached first: adding a parent cascades to its children, which must
    # already carry identities by then or they would be INSERTed again.
    for obj in objects:
        make_transient_to_detached(obj)
    for obj in objects:
        session.add(obj)


_MISSING = object()
