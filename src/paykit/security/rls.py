"""Row-level security on PostgreSQL: each customer sees only their own rows.

A host turns it on once (after :func:`paykit.migrate`) with
:func:`enable_row_level_security`, runs its application as a database role that
does **not** own paykit's tables (owners and superusers bypass RLS unless
``force=True``), and calls :func:`set_actor` at the start of every
transaction. The policies read two transaction-local settings:

* ``paykit.user_id`` -- the acting user's id;
* ``paykit.role`` -- ``CUSTOMER``, ``SUPPORT``, ``ADMIN``, or ``SYSTEM`` for
  background jobs and paykit's own authentication steps (:func:`set_system`).

With no actor set, a non-owner role sees no customer-owned row at all: RLS
fails closed. The settings are a guard against application bugs (a query that
forgets its ``WHERE user_id = ...``), not against an attacker who can run
arbitrary SQL as the application role -- such an attacker can call
``set_config`` too. On SQLite every function here is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.security.policy import Actor

__all__ = [
    "POLICY_NAME",
    "RLS_TABLES",
    "disable_row_level_security",
    "enable_row_level_security",
    "set_actor",
    "set_system",
    "system_scope",
]

#: Name of the one policy paykit puts on each table.
POLICY_NAME = "paykit_actor"
_USER = "NULLIF(current_setting('paykit.user_id', true), '')"
_STAFF = "COALESCE(current_setting('paykit.role', true), '') IN ('ADMIN', 'SUPPORT', 'SYSTEM')"

#: Customer-owned table -> the condition under which a customer's row is theirs.
RLS_TABLES: Mapping[str, str] = MappingProxyType(
    {
        "orders": f"user_id = {_USER}",
        "order_items": "EXISTS (SELECT 1 FROM orders o "
        f"WHERE o.id = order_items.order_id AND o.user_id = {_USER})",
        "subscriptions": f"user_id = {_USER}",
        "invoices": "EXISTS (SELECT 1 FROM subscriptions s "
        f"WHERE s.id = invoices.subscription_id AND s.user_id = {_USER})",
        "payment_methods": f"user_id = {_USER}",
        "sessions": f"user_id = {_USER}",
        "support_tickets": f"customer_id = {_USER}",
        # Internal messages stay invisible to customers even through hand-written SQL.
        "ticket_messages": "NOT is_internal AND EXISTS (SELECT 1 FROM support_tickets t "
        f"WHERE t.id = ticket_messages.ticket_id AND t.customer_id = {_USER})",
        "product_reviews": f"user_id = {_USER}",
        "discount_usages": f"user_id = {_USER}",
    }
)


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as connection:
            yield connection


@checked
def enable_row_level_security(bind: Engine | Connection, *, force: bool = False) -> None:
    """Turn on RLS with paykit's policies for every table of :data:`RLS_TABLES`. Idempotent.

    ``force=True`` also subjects the tables' owner (``FORCE ROW LEVEL
    SECURITY``), for hosts that cannot run as a separate role; superusers
    always bypass RLS. Run it as the tables' owner.
    """
    with _connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return
        for table, owned in RLS_TABLES.items():
            condition = f"({_STAFF}) OR ({owned})"
            conn.exec_driver_sql(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
            conn.exec_driver_sql(
                f"CREATE POLICY {POLICY_NAME} ON {table} FOR ALL "
                f"USING ({condition}) WITH CHECK ({condition})"
            )
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            conn.exec_driver_sql(
                f"ALTER TABLE {table} {'FORCE' if force else 'NO FORCE'} ROW LEVEL SECURITY"
            )


def disable_row_level_security(bind: Engine | Connection) -> None:
    """Undo :func:`enable_row_level_security`: drop the policies and turn RLS off."""
    with _connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return
        for table in RLS_TABLES:
            conn.exec_driver_sql(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
            conn.exec_driver_sql(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def _set(bind: Session | Connection, user_id: str, role: str) -> None:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    if dialect.name != "postgresql":
        return
    # is_local=true: the settings end with the transaction, so a pooled
    # connection never carries one request's actor into the next.
    bind.execute(
        sa.text(
            "SELECT set_config('paykit.user_id', :u, true), set_config('paykit.role', :r, true)"
        ),
        {"u": user_id, "r": role},
    )


@checked
def set_actor(bind: Session | Connection, actor: Actor | None) -> None:
    """Make ``actor`` the current user for RLS until the transaction ends (``None`` clears).

    Call it after ``begin()`` and again after every commit: the settings are
    transaction-local.
    """
    if actor is None:
        _set(bind, "", "")
    else:
        _set(bind, actor.user_id, actor.role.value)


def set_system(bind: Session | Connection) -> None:
    """Let this transaction see every row (background jobs, webhooks, maintenance)."""
    _set(bind, "", "SYSTEM")


@contextmanager
def system_scope(bind: Session | Connection) -> Iterator[None]:
    """SYSTEM visibility inside the block only, then the previous actor again.

    paykit's authentication steps use it: a session token must be looked up
    before anyone knows whose it is.
    """
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    if dialect.name != "postgresql":
        yield
        return
    previous = bind.execute(
        sa.text(
            "SELECT current_setting('paykit.user_id', true), current_setting('paykit.role', true)"
        )
    ).one()
    set_system(bind)
    try:
        yield
    except sa.exc.DBAPIError:
        raise  # the transaction is aborted; its rollback clears the settings anyway
    except BaseException:
        _set(bind, previous[0] or "", previous[1] or "")
        raise
    _set(bind, previous[0] or "", previous[1] or "")
