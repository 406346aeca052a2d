"""Run paykit's own Alembic migrations, shipped inside the package.

paykit keeps its revision in the table ``paykit_alembic_version``, so its
history sits beside a host application's own Alembic history (which uses
``alembic_version``) in one database without either seeing the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine

from paykit._arguments import checked
from paykit.db import (
    attached_file,
    check_schema_name,
    create_engine,
    make_url,
    schema_file_path,
    schema_of,
    schema_search_path,
)
from paykit.errors import ConfigurationError, ValidationError

__all__ = [
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "include_paykit_object",
    "is_paykit_table",
    "migrate",
]

#: The table that records which paykit revision a database is at.
VERSION_TABLE = "paykit_alembic_version"

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def is_paykit_table(name: str | None) -> bool:
    """True for the tables paykit owns (including its version table)."""
    from paykit.models import Base

    return name == VERSION_TABLE or name in Base.metadata.tables


def include_paykit_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic ``include_object`` hook that keeps only paykit's own tables.

    paykit's environment uses it so a host's tables never show up in paykit's
    autogenerate; a host's own ``env.py`` can pass ``lambda *a: not
    include_paykit_object(*a)`` for tables to get the mirror image.
    """
    if type_ == "table":
        return is_paykit_table(name) and name != VERSION_TABLE
    return True


def alembic_config(connection: Connection | None = None, *, schema: str | None = None) -> Config:
    """An Alembic ``Config`` for paykit's migrations, bound to ``connection`` if given.

    With ``schema`` (PostgreSQL), the version table lives in that schema.
    """
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    if schema is not None:
        config.attributes["version_table_schema"] = schema
    return config


@contextmanager
def _connection(bind: Engine | Connection | str | URL) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
        return
    engine = bind if isinstance(bind, Engine) else create_engine(bind)
    try:
        with engine.connect() as connection, foreign_keys_off(connection), connection.begin():
            yield connection
    finally:
        if not isinstance(bind, Engine):
            engine.dispose()


@contextmanager
def foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys off on ``connection`` (not yet in a transaction) while in the block.

    SQLite cannot alter most of a table, so Alembic's batch mode rebuilds it:
    a copy, then ``DROP TABLE`` of the original. With foreign keys on, that
    drop deletes the table's rows one by one first: a referencing row with
    ``ON DELETE CASCADE`` is deleted with them (a subscription's items and MRR
    history), one with ``RESTRICT`` makes the upgrade fail (its invoices).
    SQLite's own advice is to turn them off around such a change (outside a
    transaction: inside one the pragma does nothing) and to check them after,
    which :func:`_rebuilds_checked` does. The connection's setting is restored.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    cursor.execute("PRAGMA foreign_keys")
    was = (cursor.fetchone() or (0,))[0]
    cursor.execute("PRAGMA foreign_keys = OFF")
    cursor.close()
    try:
        yield
    finally:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if was else 'OFF'}")
        cursor.close()


def _heads(connection: Connection, version_schema: str | None) -> set[str]:
    opts = {"version_table": VERSION_TABLE, "version_table_schema": version_schema}
    return set(MigrationContext.configure(connection, opts=opts).get_current_heads())


@contextmanager
def _rebuilds_checked(
    connection: Connection, version_schema: str | None, config: Config, target: str
) -> Iterator[None]:
    """SQLite: refuse to rebuild tables with foreign keys on; check them after a change.

    A caller's connection already in its transaction cannot turn them off
    (see :func:`foreign_keys_off`): a database that has a revision and would
    move is refused with ``sqlite_foreign_keys_on`` instead of losing rows.
    After a change, ``PRAGMA foreign_key_check`` must find no broken reference
    that was not there before, else the migration is rolled back with
    ``migration_broke_foreign_keys``.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    before = _heads(connection, version_schema)
    try:
        scripts = ScriptDirectory.from_config(config).get_revisions(target)
        moves = {script.revision for script in scripts if script is not None} != before
    except (CommandError, RevisionError):
        moves = True
    broken = set(_broken(connection)) if before and moves else set()
    if before and moves and connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise ConfigurationError(
            "this SQLite connection has foreign keys on inside its transaction, so "
            "rebuilding a table would delete or refuse the rows that reference it: "
            "pass the Engine (paykit turns them off for the migration and checks them "
            "after), or run PRAGMA foreign_keys = OFF before BEGIN",
            code="sqlite_foreign_keys_on",
            details={"current": sorted(before), "target": target},
        )
    yield
    if _heads(connection, version_schema) != before:
        new = [row for row in _broken(connection) if row not in broken]
        if new:
            raise ConfigurationError(
                "after the migration, rows reference rows that do not exist; nothing was changed",
                code="migration_broke_foreign_keys",
                details={"tables": sorted({str(row[0]) for row in new})},
            )


def _broken(connection: Connection) -> list[tuple[object, ...]]:
    """SQLite's broken references: (table, rowid, parent table, constraint index)."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    return [tuple(row) for row in rows]


def _schema(bind: Engine | Connection | str | URL, schema: str | None) -> str | None:
    if schema is not None:
        return check_schema_name(schema)
    return schema_of(bind) if isinstance(bind, Engine | Connection) else None


def _backend(bind: Engine | Connection | str | URL) -> str:
    if isinstance(bind, Engine | Connection):
        return bind.dialect.name
    return make_url(bind).get_backend_name()


def _sqlite_file(bind: Engine | Connection | str | URL, schema: str) -> Path:
    if isinstance(bind, Engine | Connection):
        return attached_file(bind, schema)
    return schema_file_path(make_url(bind), schema)


@contextmanager
def _schema_connection(
    bind: Engine | Connection | str | URL, schema: str, *, create: bool
) -> Iterator[Connection | None]:
    """A connection whose unqualified table names mean paykit's tables in ``schema``.

    SQLite: a connection of the schema's own file (not the host's ATTACH), so
    paykit's migrations, written without a schema, run as written; it commits
    on its own. PostgreSQL: ``bind``'s connection with ``schema`` (created if
    ``create``) as the search path. None when the schema does not exist and
    ``create`` is false.
    """
    if _backend(bind) == "sqlite":
        path = _sqlite_file(bind, schema)
        if not path.is_file() and not create:
            yield None
            return
        if not path.parent.is_dir():
            raise _missing(
                schema, f"the folder of {str(path)!r} does not exist", "create the folder"
            )
        with _connection(f"sqlite:///{path}") as connection:
            yield connection
        return
    with _connection(bind) as connection:
        exists = connection.execute(
            sa.text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": schema}
        ).scalar_one()
        if not exists and not create:
            yield None
            return
        if not exists:
            try:
                with connection.begin_nested():
                    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            except sa.exc.DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0]
                raise _missing(schema, f"cannot create it: {reason}") from exc
        with schema_search_path(connection, schema):
            yield connection


def _missing(
    schema: str, why: str, hint: str = "create it, or grant CREATE on the database"
) -> ConfigurationError:
    return ConfigurationError(
        f"paykit's schema {schema!r} is unavailable: {why}",
        code="schema_unavailable",
        details={"schema": schema, "hint": hint},
    )


# What paykit's history can be moved to; alembic asserts on some other strings.
_REVISION = re.compile(r"(?=.)(?:heads?|base|[A-Za-z0-9_]{1,64})?(?:[+-][0-9]{1,4})?")


@contextmanager
def _revision_errors(revision: str) -> Iterator[None]:
    """Alembic's refusal of a revision (unknown, wrong direction) as a ValidationError."""
    if not _REVISION.fullmatch(revision):
        raise ValidationError(
            "a revision is head, base, a revision id, or one of them with +N/-N",
            code="invalid_argument",
            details={"param": "revision"},
        )
    try:
        yield
    except (CommandError, RevisionError) as exc:
        raise ValidationError(
            f"cannot move paykit's schema to revision {revision[:64]!r}: {exc}"[:300],
            code="invalid_argument",
            details={"param": "revision"},
        ) from None


@contextmanager
def _migration_connection(
    bind: Engine | Connection | str | URL, schema: str | None, *, create: bool
) -> Iterator[tuple[Connection | None, str | None]]:
    """(connection, the version table's schema) for ``bind`` and ``schema``."""
    name = _schema(bind, schema)
    if name is None:
        with _connection(bind) as connection:
            yield connection, None
        return
    with _schema_connection(bind, name, create=create) as connection:
        on_pg = connection is not None and connection.dialect.name == "postgresql"
        yield connection, name if on_pg else None


def _refuse_collisions(connection: Connection, version_schema: str | None) -> None:
    """A first migration onto tables that share paykit's names is refused, naming them."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "version_table_schema": version_schema}
    )
    if context.get_current_heads():
        return
    from paykit.models import Base

    existing = set(sa.inspect(connection).get_table_names(schema=version_schema))
    taken = sorted(existing & set(Base.metadata.tables))
    if taken:
        raise ConfigurationError(
            f"the database already has tables named like paykit's ({', '.join(taken[:5])}): "
            "keep paykit's in a schema of their own, paykit.migrate(engine, schema='paykit')",
            code="table_name_collision",
            details={"tables": taken, "hint": "see docs/hosting.md"},
        )


@checked
def migrate(
    bind: Engine | Connection | str | URL, revision: str = "head", *, schema: str | None = None
) -> None:
    """Upgrade the database to ``revision`` (default: the latest). Idempotent.

    ``bind`` is an Engine, a Connection (the caller owns its transaction) or a
    database URL. On PostgreSQL with row-level security turned on
    (:func:`paykit.security.rls.enable_row_level_security`), the policies are
    re-applied for the new revision.

    ``schema`` (default: the one of an engine made by
    :func:`paykit.use_schema`) puts paykit's tables and its version table in
    their own namespace, beside a host's tables of the same names: a
    PostgreSQL schema, created if missing, or on SQLite the schema's own file,
    migrated through a connection of its own (see docs/hosting.md).
    """
    from paykit.security.rls import refresh_row_level_security

    with (
        _revision_errors(revision),
        _migration_connection(bind, schema, create=True) as (connection, version_schema),
    ):
        assert connection is not None  # create=True
        _refuse_collisions(connection, version_schema)
        # "heads" also reaches every head of a history that briefly branched.
        config = alembic_config(connection, schema=version_schema)
        target = "heads" if revision == "head" else revision
        with _rebuilds_checked(connection, version_schema, config, target):
            command.upgrade(config, target)
        # A database with row-level security on gets the policies of the new
        # revision (new tables, changed rules) in the same transaction.
        refresh_row_level_security(connection)


@checked
def downgrade(
    bind: Engine | Connection | str | URL, revision: str = "base", *, schema: str | None = None
) -> None:
    """Downgrade the database to ``revision`` (default: ``base``, dropping paykit's tables).

    ``schema`` as for :func:`migrate`; a schema that does not exist is
    ``schema_unavailable``.
    """
    with (
        _revision_errors(revision),
        _migration_connection(bind, schema, create=False) as (connection, version_schema),
    ):
        if connection is None:
            raise _missing(str(_schema(bind, schema)), "it does not exist", "nothing to downgrade")
        config = alembic_config(connection, schema=version_schema)
        with _rebuilds_checked(connection, version_schema, config, revision):
            command.downgrade(config, revision)


@checked
def current_revision(
    bind: Engine | Connection | str | URL, *, schema: str | None = None
) -> str | None:
    """The paykit revision the database is at, or None if paykit was never migrated there.

    (Several heads, should a history branch, are joined with commas.) With
    ``schema`` (as for :func:`migrate`), the revision of that schema; None if
    it does not exist.
    """
    with _migration_connection(bind, schema, create=False) as (connection, version_schema):
        if connection is None:
            return None
        opts = {"version_table": VERSION_TABLE, "version_table_schema": version_schema}
        context = MigrationContext.configure(connection, opts=opts)
        heads = context.get_current_heads()
        return ",".join(sorted(heads)) if heads else None


@checked
def head_revision() -> str:
    """The newest revision shipped with this version of paykit."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))
