"""Engines that behave the way paykit's services expect.

SQLite needs three things per connection that it does not do by default:
foreign keys on (the seed's cascades), a busy timeout (parallel writers wait
instead of failing), and ``BEGIN IMMEDIATE`` so that a transaction that will
write takes the database's write lock before it reads. The last one is what
makes a read-check-write sequence atomic on SQLite, where there are no row
locks. PostgreSQL needs nothing extra.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from paykit._arguments import checked
from paykit.errors import ConfigurationError

__all__ = ["DEFAULT_DATABASE_URL", "configure_sqlite", "create_engine", "make_url"]

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
def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """``sqlalchemy.create_engine`` with paykit's settings (see the module docstring).

    ``url`` defaults to :data:`DEFAULT_DATABASE_URL`. A file-based SQLite
    database is switched to WAL journaling so readers do not block the writer.
    """
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
