"""Engines that behave the way paykit's services expect.

SQLite needs three things per connection that it does not do by default:
foreign keys on (the seed's cascades), a busy timeout (parallel writers wait
instead of failing), and ``BEGIN IMMEDIATE`` so that a transaction that will
write takes the database's write lock before it reads. The last one is what
makes a read-check-write sequence atomic on SQLite, where there are no row
locks. PostgreSQL needs nothing extra.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from paykit._arguments import checked
from paykit.errors import ConfigurationError, ValidationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SCHEMA_OPTION",
    "attached_file",
    "check_schema_name",
    "configure_sqlite",
    "create_engine",
    "make_url",
    "schema_file_path",
    "schema_of",
    "schema_search_path",
    "use_schema",
]

#: The embedded default: a SQLite file in the current folder.
DEFAULT_DATABASE_URL = "sqlite:///paykit.db"
_BACKENDS = ("sqlite", "postgresql")
_BINARY_HINT = (
    "pip install 'paykit[binary]' (psycopg's binary wheel bundles libpq), "
    "or install the system libpq"
)


def make_url(url: str | URL) -> URL:
    """Parse a database URL, raising ``ConfigurationError`` for a malformed one.

    ``postgresql://`` and ``postgres://`` are taken to mean psycopg 3, the
    driver paykit depends on. A database other than SQLite and PostgreSQL is
    refused (``unsupported_database``): paykit's schema needs one of the two.
    """
    try:
        parsed = sa.make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError, ...
        raise ConfigurationError(f"malformed database URL: {url!s}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in _BACKENDS:
        raise ConfigurationError(
            f"paykit supports SQLite and PostgreSQL databases, not "
            f"{parsed.get_backend_name()!r} ({parsed.render_as_string(hide_password=True)})",
            code="unsupported_database",
            details={"hint": "use sqlite:///path/to/file.db or postgresql://user@host/db"},
        )
    return parsed


def _load_driver(parsed: URL, **kwargs: Any) -> Engine:
    """``sa.create_engine``, with a missing driver or libpq said as a ConfigurationError."""
    try:
        return sa.create_engine(parsed, **kwargs)
    except sa.exc.NoSuchModuleError as exc:
        raise ConfigurationError(
            f"unknown database driver {parsed.drivername!r}",
            code="unsupported_database",
            details={"hint": "use sqlite:///path/to/file.db or postgresql://user@host/db"},
        ) from exc
    except ImportError as exc:
        reason = str(exc).strip().splitlines()[-1].lstrip("- ")
        libpq = "libpq" in str(exc) or "pq wrapper" in str(exc)
        hint = (
            _BINARY_HINT
            if libpq
            else f"install the {parsed.drivername} driver, or use postgresql:// (psycopg 3)"
        )
        raise ConfigurationError(
            f"cannot load the database driver for {parsed.drivername}: {reason}",
            code="database_driver_missing",
            details={"hint": hint},
        ) from exc


def configure_sqlite(engine: Engine, *, busy_timeout_ms: int = 30_000) -> Engine:
    """Install paykit's per-connection SQLite settings on ``engine`` (no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
        # implicit BEGIN is deferred and would defeat BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@checked
def create_engine(
    url: str | URL | None = None,
    *,
    schema: str | None = None,
    schema_file: str | Path | None = None,
    **kwargs: Any,
) -> Engine:
    """``sqlalchemy.create_engine`` with paykit's settings (see the module docstring).

    ``url`` defaults to :data:`DEFAULT_DATABASE_URL`. A file-based SQLite
    database is switched to WAL journaling so readers do not block the writer.
    With ``schema``, the engine returned reads and writes paykit's tables in
    that namespace (see :func:`use_schema`; ``schema_file`` is the SQLite file
    attached as it), so they can sit beside a host's own ``users`` or ``orders``.
    """
    if schema is None and schema_file is not None:
        raise ValidationError(
            "schema_file needs a schema", code="invalid_argument", details={"param": "schema_file"}
        )
    engine = _create_engine(url, **kwargs)
    return engine if schema is None else use_schema(engine, schema, schema_file=schema_file)


def _create_engine(url: str | URL | None, **kwargs: Any) -> Engine:
    parsed = make_url(url if url is not None else DEFAULT_DATABASE_URL)
    if parsed.get_backend_name() == "sqlite":
        engine = _load_driver(parsed, **kwargs)
        configure_sqlite(engine)
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file::memory:"):

            @event.listens_for(engine, "connect")
            def _wal(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.close()

        return engine
    # pool_pre_ping costs a round trip per checkout; hosts that need it pass it.
    return _load_driver(parsed, **kwargs)


# --- paykit's tables in a namespace of their own -----------------------------------

#: The execution option naming the schema of an engine made by :func:`use_schema`.
SCHEMA_OPTION = "paykit_schema"
_FILE_OPTION = "paykit_schema_file"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED = ("main", "temp", "public", "information_schema")


def check_schema_name(schema: str) -> str:
    """``schema`` if it is a usable name for paykit's schema, else ``ValidationError``.

    Lower-case letters, digits and ``_`` (not first a digit), at most 63
    characters, and not ``main``, ``temp`` (SQLite's), ``public``,
    ``information_schema`` or ``pg_...``: a name that never needs quoting means
    the same thing in every statement, policy and function paykit writes.
    """
    if (
        not isinstance(schema, str)
        or not _SCHEMA_NAME.fullmatch(schema)
        or schema in _RESERVED
        or schema.startswith("pg_")
    ):
        raise ValidationError(
            "a schema name is lower-case letters, digits and _ (not main, temp, public or pg_*)",
            code="invalid_argument",
            details={"param": "schema"},
        )
    return schema


def _unavailable(schema: str, why: str, hint: str) -> ConfigurationError:
    return ConfigurationError(
        f"paykit's schema {schema!r} is unavailable: {why}",
        code="schema_unavailable",
        details={"schema": schema, "hint": hint},
    )


def schema_file_path(url: URL, schema: str, file: str | Path | None = None) -> Path:
    """The SQLite file attached as ``schema``: ``file``, or ``<schema>.db`` next to the
    main database file of ``url``."""
    if file is not None:
        return Path(file).resolve()
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise _unavailable(
            schema,
            "an in-memory SQLite database has no folder for the schema's file",
            "pass schema_file= (the SQLite file that holds paykit's tables)",
        )
    return Path(database).resolve().parent / f"{schema}.db"


def schema_of(bind: Engine | Connection) -> str | None:
    """The paykit schema an engine or connection made by :func:`use_schema` works in."""
    value = bind.get_execution_options().get(SCHEMA_OPTION)
    return value if isinstance(value, str) else None


def _attach(engine: Engine, schema: str, path: Path) -> None:
    """ATTACH ``path`` as ``schema`` to every connection, once the file exists.

    Before ``paykit.migrate`` created it, connections stay unattached (the
    host's own tables work; paykit's statements fail as ``schema_unavailable``)
    and attach at their first checkout after it appears.
    """
    key = f"paykit_attached_{schema}"

    def attach(dbapi_connection: Any, record: Any) -> None:
        if record.info.get(key) or not path.is_file():
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f'ATTACH DATABASE ? AS "{schema}"', (str(path),))
        except Exception as exc:
            why = f"cannot attach {str(path)!r}: {exc}"
            raise _unavailable(schema, why, "check the file and its permissions") from exc
        finally:
            cursor.close()
        record.info[key] = True

    event.listen(engine, "connect", attach)
    event.listen(engine.pool, "checkout", lambda conn, record, _proxy: attach(conn, record))


def _map_missing(engine: Engine, schema: str) -> None:
    """A statement on a missing schema or table is ``schema_unavailable``, not a bare
    driver error saying a relation does not exist."""
    marker = f"{schema}."

    @event.listens_for(engine, "handle_error")
    def _missing(context: Any) -> None:
        message = str(context.original_exception)
        missing = any(
            words in message for words in ("does not exist", "no such table", "unknown database")
        )
        if (
            missing
            and (marker in message or f"database {schema}" in message)
            and _uses_schema(context, schema)
        ):
            raise _unavailable(
                schema,
                message.strip().splitlines()[0],
                "run paykit.migrate(engine) for this schema",
            ) from context.original_exception


def _uses_schema(context: Any, schema: str) -> bool:
    options = context.execution_context.execution_options if context.execution_context else {}
    return bool(options.get(SCHEMA_OPTION) == schema)


@checked
def use_schema(engine: Engine, schema: str, *, schema_file: str | Path | None = None) -> Engine:
    """An engine (sharing ``engine``'s pool) whose statements put paykit's tables in ``schema``.

    paykit's models name no schema; SQLAlchemy's ``schema_translate_map``
    (``{None: schema}``) qualifies every table of every statement run through
    the engine returned. Use it for paykit's sessions and for
    :func:`paykit.migrate`; keep ``engine`` itself for the host's own tables.

    * PostgreSQL: ``schema`` is a real schema (``paykit.migrate`` creates it).
    * SQLite: ``schema`` is a database file ATTACHed to every connection
      (``schema_file``, default ``<schema>.db`` beside the main database file);
      ``paykit.migrate`` creates and migrates that file.

    A schema or file that is missing or unusable is a ``ConfigurationError``
    with code ``schema_unavailable``. On SQLite, call it before the engine's
    first connection (it empties the pool so every connection attaches); the
    host's own statements work before the file exists.
    """
    check_schema_name(schema)
    options: dict[str, Any] = {"schema_translate_map": {None: schema}, SCHEMA_OPTION: schema}
    if engine.dialect.name == "sqlite":
        path = schema_file_path(engine.url, schema, schema_file)
        options[_FILE_OPTION] = str(path)
        _attach(engine, schema, path)
        engine.dispose()
    elif schema_file is not None:
        raise ValidationError(
            "schema_file is for SQLite only",
            code="invalid_argument",
            details={"param": "schema_file"},
        )
    _map_missing(engine, schema)
    return engine.execution_options(**options)


def attached_file(bind: Engine | Connection, schema: str) -> Path:
    """The SQLite file holding ``schema`` for ``bind`` (made by :func:`use_schema` or not)."""
    value = bind.get_execution_options().get(_FILE_OPTION)
    if isinstance(value, str) and schema_of(bind) == schema:
        return Path(value)
    return schema_file_path(bind.engine.url, schema)


@contextmanager
def schema_search_path(connection: Connection, schema: str | None) -> Iterator[Connection]:
    """On PostgreSQL, ``schema`` as the search path until the block ends (then the old one).

    For SQL that names tables without a schema: paykit's migrations and its
    row-level security DDL. Transaction-local (``set_config(..., true)``);
    after a failure the host's rollback restores it. Elsewhere, or without a
    schema, it does nothing.
    """
    if schema is None or connection.dialect.name != "postgresql":
        yield connection
        return
    previous = connection.execute(sa.text("SELECT current_setting('search_path')")).scalar_one()
    connection.execute(sa.text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    yield connection
    connection.execute(sa.text("SELECT set_config('search_path', :s, true)"), {"s": previous})
