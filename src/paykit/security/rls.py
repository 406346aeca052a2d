"""Row-level security on PostgreSQL: each customer sees only their own rows.

A host turns it on once (after :func:`paykit.migrate`) with
:func:`enable_row_level_security`, runs its application as a database role that
does **not** own paykit's tables (owners and superusers bypass RLS unless
``force=True``), and calls :func:`set_actor` at the start of every
transaction. The policies read two transaction-local settings:

* ``paykit.user_id`` -- the acting user's id;
* ``paykit.role`` -- ``CUSTOMER``, ``SUPPORT``, ``ADMIN``, or ``SYSTEM`` for
  background jobs and paykit's own authentication steps (:func:`set_system`).

With no actor set, a non-owner role sees no customer-owned row at all (only
product reviews, which are public): RLS fails closed. Every table that holds a
customer's data is in :data:`RLS_TABLES`; the others are in :data:`RLS_EXEMPT`
with the reason (a test checks that every table is in exactly one). The
settings are a guard against application bugs (a query that
forgets its ``WHERE user_id = ...``), not against an attacker who can run
arbitrary SQL as the application role -- such an attacker can call
``set_config`` too. On SQLite every function here is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.db import schema_of, schema_search_path
from paykit.security.policy import Actor

__all__ = [
    "POLICY_NAME",
    "RLS_EXEMPT",
    "RLS_TABLES",
    "TablePolicy",
    "disable_row_level_security",
    "enable_row_level_security",
    "refresh_row_level_security",
    "set_actor",
    "set_system",
    "system_scope",
]

#: Prefix of paykit's policies: ``paykit_actor_select``, ``_insert``, ``_update``, ``_delete``.
#: (Before 0.x.y one ``FOR ALL`` policy was called ``paykit_actor``; enabling drops it.)
POLICY_NAME = "paykit_actor"
_COMMANDS = ("select", "insert", "update", "delete")
_USER = "NULLIF(current_setting('paykit.user_id', true), '')"
_ROLE = "COALESCE(current_setting('paykit.role', true), '')"
_STAFF = f"{_ROLE} IN ('ADMIN', 'SUPPORT', 'SYSTEM')"
_ADMIN = f"{_ROLE} IN ('ADMIN', 'SYSTEM')"
_SYSTEM = f"{_ROLE} = 'SYSTEM'"


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """Who may read, insert, update and delete a table's rows: one SQL condition each.

    Each condition is complete (it names the roles it lets through), so a
    table can be readable by everyone and writable by its owner only.
    """

    select: str
    insert: str
    update: str
    delete: str

    @classmethod
    def owned(cls, mine: str, *, staff: str = _STAFF) -> TablePolicy:
        """Rows a customer reads and writes when ``mine`` holds; ``staff`` do anything."""
        condition = f"({staff}) OR ({mine})"
        return cls(condition, condition, condition, condition)

    @classmethod
    def read_own(cls, mine: str) -> TablePolicy:
        """Rows a customer reads when ``mine`` holds; only staff and jobs write them."""
        return cls(select=f"({_STAFF}) OR {mine}", insert=_STAFF, update=_STAFF, delete=_STAFF)

    @classmethod
    def child(cls, owner_function: str, parent_id: str, *, also: str = "true") -> TablePolicy:
        """Rows owned through a parent row, whose owner ``owner_function`` returns;
        customers see and write only those where ``also`` holds too.

        Not an ``EXISTS`` on the parent: paykit writes an order and its items in
        one statement of data-modifying CTEs (``INSERT … RETURNING``), and the
        parent inserted by the same statement is not in that statement's
        snapshot. The owner function (SECURITY DEFINER, reading as SYSTEM)
        returns the owner of a committed parent and NULL for one being inserted
        now; the foreign key and the parent's own policy cover that case.
        """
        owner = f"COALESCE({owner_function}({parent_id}), {_USER})"
        condition = f"({_STAFF}) OR (({also}) AND {owner} = {_USER})"
        return cls(condition, condition, condition, condition)

    def condition(self, command: str) -> str:
        """The condition of ``command`` (``select``, ``insert``, ``update`` or ``delete``)."""
        value: str = getattr(self, command)
        return value


#: SECURITY DEFINER function -> (parent table, its owner column). Each returns
#: the owner of a parent row regardless of the caller's visibility.
_OWNER_FUNCTIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "paykit_order_owner": ("orders", "user_id"),
        "paykit_subscription_owner": ("subscriptions", "user_id"),
        "paykit_ticket_owner": ("support_tickets", "customer_id"),
    }
)


def _owner_function_sql(name: str, table: str, column: str, schema: str) -> str:
    # Runs as the tables' owner; under FORCE the owner is subject to the
    # policies too, so it reads as SYSTEM for this one lookup and restores the
    # caller's role before returning.
    return f"""
CREATE OR REPLACE FUNCTION {name}(parent_id text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $fn$
DECLARE
    caller text := COALESCE(current_setting('paykit.role', true), '');
    found text;
BEGIN
    PERFORM set_config('paykit.role', 'SYSTEM', true);
    SELECT {column} INTO found FROM {table} WHERE id = parent_id;
    PERFORM set_config('paykit.role', caller, true);
    RETURN found;
END
$fn$"""


def _order_is_mine(order_id: str) -> str:
    return f"EXISTS (SELECT 1 FROM orders o WHERE o.id = {order_id} AND o.user_id = {_USER})"


def _invoice_is_mine(invoice_id: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id "
        f"WHERE i.id = {invoice_id} AND s.user_id = {_USER})"
    )


#: Every table that holds a customer's data -> its policy. Reasons per table
#: are in docs/security.md ("Row-level security on PostgreSQL").
RLS_TABLES: Mapping[str, TablePolicy] = MappingProxyType(
    {
        "users": TablePolicy(
            select=f"({_STAFF}) OR id = {_USER}",
            insert=_ADMIN,  # registration runs as SYSTEM (system_scope)
            update=f"({_STAFF}) OR id = {_USER}",
            delete=_ADMIN,
        ),
        "sessions": TablePolicy.owned(f"user_id = {_USER}"),
        "paykit_user_tokens": TablePolicy.owned(f"user_id = {_USER}"),
        "orders": TablePolicy.owned(f"user_id = {_USER}"),
        "order_items": TablePolicy.child("paykit_order_owner", "order_items.order_id"),
        # A customer sees the refunds of their orders; only staff and jobs write them.
        "refunds": TablePolicy.read_own(_order_is_mine("refunds.order_id")),
        "subscriptions": TablePolicy.owned(f"user_id = {_USER}"),
        "subscription_mrr_history": TablePolicy.owned(f"user_id = {_USER}"),
        "invoices": TablePolicy.child("paykit_subscription_owner", "invoices.subscription_id"),
        "subscription_items": TablePolicy.child(
            "paykit_subscription_owner", "subscription_items.subscription_id"
        ),
        # A customer reads the lines of their invoices; only staff and jobs
        # (the webhook sync) write them, as for refunds.
        "invoice_lines": TablePolicy.read_own(_invoice_is_mine("invoice_lines.invoice_id")),
        "payment_methods": TablePolicy.owned(f"user_id = {_USER}"),
        "discount_usages": TablePolicy.owned(f"user_id = {_USER}"),
        "paykit_idempotency_keys": TablePolicy.owned(f"user_id = {_USER}"),
        "support_tickets": TablePolicy.owned(f"customer_id = {_USER}"),
        # Internal messages stay invisible to customers even through hand-written SQL.
        "ticket_messages": TablePolicy.child(
            "paykit_ticket_owner", "ticket_messages.ticket_id", also="NOT is_internal"
        ),
        # Published reviews are for everyone (a storefront shows them to visitors);
        # a review staff hid is seen by its author and staff only. Only the author
        # writes one; staff may delete it. Hiding (moderation) and the helpful
        # counter are written by paykit as SYSTEM, so staff never edit the words.
        "product_reviews": TablePolicy(
            select=f"hidden_at IS NULL OR ({_STAFF}) OR user_id = {_USER}",
            insert=f"({_SYSTEM}) OR user_id = {_USER}",
            update=f"({_SYSTEM}) OR user_id = {_USER}",
            delete=f"({_STAFF}) OR user_id = {_USER}",
        ),
        # Who found which review helpful: the voter and staff.
        "paykit_review_votes": TablePolicy.owned(f"user_id = {_USER}"),
        # Anyone's action may be audited; staff and the user read it; nobody edits it.
        "audit_logs": TablePolicy(
            select=f"({_STAFF}) OR user_id = {_USER}",
            insert="true",
            update=_SYSTEM,
            delete=_SYSTEM,
        ),
        # Card holders' names, e-mails and addresses: administrators and jobs only.
        "paykit_webhook_events": TablePolicy.owned("false", staff=_ADMIN),
        "paykit_login_attempts": TablePolicy.owned("false", staff=_ADMIN),
    }
)

#: Tables without RLS, and why: none holds a customer's data.
RLS_EXEMPT: Mapping[str, str] = MappingProxyType(
    {
        "products": "the catalog: public",
        "prices": "the catalog: public",
        "product_categories": "the catalog: public",
        "product_category_links": "the catalog: public",
        "discounts": "discount codes: shared by all customers, managed by admins",
        "product_discounts": "which discount applies to which product: shared",
        "analytics": "aggregate metrics, no per-customer rows",
        "system_config": "the host's settings, no customer data",
    }
)


@contextmanager
def _connection(bind: Engine | Connection) -> Iterator[Connection]:
    # The DDL below names tables without a schema: for an engine made by
    # paykit.use_schema, paykit's schema is the search path meanwhile.
    if isinstance(bind, Connection):
        with schema_search_path(bind, schema_of(bind)):
            yield bind
    else:
        with bind.begin() as connection, schema_search_path(connection, schema_of(connection)):
            yield connection


_POLICIES = (POLICY_NAME, *(f"{POLICY_NAME}_{command}" for command in _COMMANDS))


def _existing(conn: Connection, tables: Iterable[str]) -> list[str]:
    # Tables of a later revision may not exist yet (migrate() re-applies afterwards).
    return [
        table
        for table in tables
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None
    ]


@checked
def enable_row_level_security(bind: Engine | Connection, *, force: bool = False) -> None:
    """Turn on RLS with paykit's policies for every table of :data:`RLS_TABLES`. Idempotent.

    ``force=True`` also subjects the tables' owner (``FORCE ROW LEVEL
    SECURITY``), for hosts that cannot run as a separate role; superusers
    always bypass RLS. Run it as the tables' owner. :func:`paykit.migrate`
    calls it again after an upgrade when RLS was on, so new tables and
    policies take effect.
    """
    with _connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        for name, (parent, column) in _OWNER_FUNCTIONS.items():
            conn.exec_driver_sql(_owner_function_sql(name, parent, column, schema))
        for table in _existing(conn, RLS_TABLES):
            policy = RLS_TABLES[table]
            for name in _POLICIES:
                conn.exec_driver_sql(f"DROP POLICY IF EXISTS {name} ON {table}")
            for command in _COMMANDS:
                condition = policy.condition(command)
                clause = (
                    f"WITH CHECK ({condition})"
                    if command == "insert"
                    else f"USING ({condition})"
                    if command in ("select", "delete")
                    else f"USING ({condition}) WITH CHECK ({condition})"
                )
                conn.exec_driver_sql(
                    f"CREATE POLICY {POLICY_NAME}_{command} ON {table} "
                    f"FOR {command.upper()} {clause}"
                )
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            conn.exec_driver_sql(
                f"ALTER TABLE {table} {'FORCE' if force else 'NO FORCE'} ROW LEVEL SECURITY"
            )


def refresh_row_level_security(bind: Engine | Connection) -> bool:
    """Re-apply paykit's policies if RLS is on for any paykit table; True if it was.

    Keeps ``FORCE`` as it was. :func:`paykit.migrate` calls it after upgrading.
    """
    with _connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return False
        state = conn.execute(
            sa.text(
                "SELECT bool_or(relrowsecurity), bool_or(relforcerowsecurity) FROM pg_class "
                "WHERE oid = ANY(SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) t)"
            ),
            {"tables": list(RLS_TABLES)},
        ).one()
        if not state[0]:
            return False
        enable_row_level_security(conn, force=bool(state[1]))
        return True


def disable_row_level_security(bind: Engine | Connection) -> None:
    """Undo :func:`enable_row_level_security`: drop the policies and turn RLS off."""
    with _connection(bind) as conn:
        if conn.dialect.name != "postgresql":
            return
        for table in _existing(conn, RLS_TABLES):
            for name in _POLICIES:
                conn.exec_driver_sql(f"DROP POLICY IF EXISTS {name} ON {table}")
            conn.exec_driver_sql(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        for name in _OWNER_FUNCTIONS:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}(text)")


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
