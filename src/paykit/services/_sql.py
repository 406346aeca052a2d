"""Small SQL helpers shared by the services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

__all__ = ["affected", "insert_objects", "row_values", "savepoint"]


@contextmanager
def savepoint(session: Session, name: str) -> Iterator[sa.Connection]:
    """A raw SAVEPOINT, rolled back to if the block raises (which on PostgreSQL also
    releases the row locks taken since) and left open otherwise: releasing it
    would cost a round trip, and the host's commit ends it anyway."""
    connection = session.connection()
    connection.exec_driver_sql(f"SAVEPOINT {name}")
    try:
        yield connection
    except BaseException:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
        raise


def affected(session: Session, statement: sa.Executable) -> int:
    """Execute a Core UPDATE/DELETE without touching the identity map; rows affected.

    The count is what makes a conditional update a guard: 1 means this call
    won, 0 means the condition (stock left, uses left, state) did not hold.
    """
    # Straight to the connection: the ORM's bulk-update layer would only add cost.
    result = session.connection().execute(statement)
    return int(cast(sa.CursorResult[Any], result).rowcount)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one mapped class becomes one INSERT row: (column, attribute, default)."""

    table: sa.Table
    columns: tuple[tuple[str, str, Any], ...]


_PLANS: dict[type[Any], _Plan] = {}  # derived from the mappers: the same for every call


def _plan(cls: type[Any]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        mapper = sa.inspect(cls)
        table = mapper.local_table
        plan = _Plan(
            table,
            tuple(
                (column.name, mapper.get_property_by_column(column).key, column.default)
                for column in table.columns
            ),
        )
        _PLANS[cls] = plan
    return plan


_MULTI: dict[tuple[tuple[tuple[sa.Table, int], ...], Any], Any] = {}


def _multi_table_insert(shape: tuple[tuple[sa.Table, int], ...], then: Any = None) -> Any:
    """One statement inserting ``rows`` rows into each table, as data-modifying CTEs
    (of ``then``, a prebuilt SELECT, when given).

    Built once per shape with named parameters, so SQLAlchemy compiles it once:
    a statement carrying literal values would be compiled on every call.
    """
    statement = _MULTI.get((shape, then))
    if statement is None:
        ctes = []
        for n, (table, count) in enumerate(shape):
            # One CTE per row: a multi-row VALUES insert is not cacheable.
            for k in range(count):
                row = {
                    c.name: sa.bindparam(f"t{n}r{k}_{c.name}", type_=c.type) for c in table.columns
                }
                insert = table.insert().values(row).returning(*table.primary_key.columns)
                ctes.append(insert.cte(f"paykit_{n}_{k}"))
        statement = (sa.select(sa.literal(1)) if then is None else then).add_cte(*ctes)
        _MULTI[(shape, then)] = statement
    return statement


def row_values(obj: Any) -> dict[str, Any]:
    """The INSERT values of a new ORM object, by column name. Column defaults that
    live in Python (ids, timestamps, ``{}``) are filled in on the object first,
    so it holds exactly what is written."""
    state = obj.__dict__
    row: dict[str, Any] = {}
    for name, attr, default in _plan(type(obj)).columns:
        if attr in state:
            value = state[attr]
        else:
            if default is None:
                value = None
            elif default.is_callable:
                value = default.arg(None)
            else:
                value = default.arg
            setattr(obj, attr, value)
        row[name] = value
    return row


def insert_objects(session: Session, *objects: Any, then: Any = None) -> Any:
    """INSERT new ORM objects with Core statements, then attach them to the session
    as if they had been loaded.

    The unit of work costs several times a plain INSERT per object; the hot
    paths (place_order, audit rows) write through here instead. Column
    defaults that live in Python (ids, timestamps, ``{}``) are filled in on the
    objects first, so the attached objects hold exactly what was written.
    Objects must come parents first. On PostgreSQL, rows for several tables go
    in one statement, each table's INSERT a data-modifying CTE: one round trip,
    and the foreign keys are checked at the end of the statement, when every
    row exists.

    ``then`` is an optional ``(statement, parameters)`` pair, a SELECT run after
    the inserts; its first row is returned. On PostgreSQL the inserts ride
    along with it as its CTEs (its parameter names must not start with ``t<n>r``),
    all in one round trip.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()  # rows these may reference (a new user, say) must exist first
    by_table: dict[sa.Table, list[dict[str, Any]]] = {}
    for obj in objects:
        by_table.setdefault(_plan(type(obj)).table, []).append(row_values(obj))
    connection = session.connection()
    result = None
    if connection.dialect.name == "postgresql" and (len(by_table) > 1 or then is not None):
        shape = tuple((table, len(rows)) for table, rows in by_table.items())
        params = {
            f"t{n}r{k}_{name}": value
            for n, rows in enumerate(by_table.values())
            for k, row in enumerate(rows)
            for name, value in row.items()
        }
        if then is None:
            connection.execute(_multi_table_insert(shape), params)
        else:
            statement, then_params = then
            params.update(then_params)
            result = connection.execute(_multi_table_insert(shape, statement), params).first()
    else:
        for table, rows in by_table.items():
            connection.execute(table.insert(), rows)
        if then is not None:
            result = connection.execute(*then).first()
    # All detached first: adding a parent cascades to its children, which must
    # already carry identities by then or they would be INSERTed again.
    for obj in objects:
        make_transient_to_detached(obj)
    for obj in objects:
        session.add(obj)
    return result
