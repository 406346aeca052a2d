"""paykit from asyncio hosts: an ``AsyncEngine`` with paykit's settings, and the
services run on an ``AsyncSession``.

paykit's services are synchronous SQLAlchemy code. SQLAlchemy's own answer for
running such code under asyncio is ``AsyncSession.run_sync``: the function runs
on the async session's ``sync_session`` in a greenlet, and every statement it
issues is awaited on the async driver (aiosqlite, psycopg's async connection),
so the event loop is never blocked by the database::

    from paykit import aio

    engine = aio.create_async_engine("sqlite+aiosqlite:///shop.db")
    await aio.migrate(engine)
    async with AsyncSession(engine) as session, session.begin():
        placed = await aio.run(session, paykit.place_order, customer_id=..., ...)

A gateway call inside a service (``FakeGateway``, ``StripeGateway``) is still a
blocking call made on the loop's thread; a host whose gateway is slow runs the
whole unit in a worker thread instead (``asyncio.to_thread`` with a sync
session). Needs the ``async`` extra (``pip install 'paykit[async]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.orm import Session

from paykit import migrator
from paykit.db import configure_sqlite, make_url
from paykit.notifications.outbox import Notifier, Outbox
from paykit.notifications.outbox import attach_notifier as _attach

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

__all__ = ["attach_notifier", "create_async_engine", "migrate", "run"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def async_url(url: str | URL) -> URL:
    """``url`` with an asyncio driver: ``sqlite://`` becomes ``sqlite+aiosqlite://``,
    ``postgresql://`` becomes ``postgresql+psycopg://`` (psycopg 3 is async too);
    a URL that names an async driver already is kept."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername=_ASYNC_DRIVERS["sqlite"])
    return parsed


def create_async_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """``sqlalchemy.ext.asyncio.create_async_engine`` with paykit's settings.

    The same per-connection SQLite settings as :func:`paykit.create_engine`
    (foreign keys, busy timeout, ``BEGIN IMMEDIATE``, WAL for a file), which
    SQLAlchemy documents as the way to get real transactions from aiosqlite.
    """
    parsed = async_url(url)
    engine = sa_asyncio.create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        configure_sqlite(engine.sync_engine)
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file::memory:"):

            @event.listens_for(engine.sync_engine, "connect")
            def _wal(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.close()

    return engine


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """:func:`paykit.migrate` on an ``AsyncEngine``, in one transaction.

    On SQLite, foreign keys are off for that transaction and checked before it
    commits, as :func:`paykit.migrate` does with an Engine.
    """
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, revision)


def _migrate(connection: Connection, revision: str) -> None:
    with migrator.foreign_keys_off(connection), connection.begin():
        migrator.migrate(connection, revision)


async def run(
    session: AsyncSession,
    service: Callable[Concatenate[Session, _P], _T],
    /,
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> _T:
    """``await service(sync_session, *args, **kwargs)``: a paykit service on an ``AsyncSession``.

    The service runs through ``AsyncSession.run_sync``, so it sees the async
    session's transaction, identity map and notifier. The host owns the
    transaction as with a sync session (``async with session.begin():``).
    """

    def call(sync_session: Session) -> _T:
        return service(sync_session, *args, **kwargs)

    return await session.run_sync(call)


def attach_notifier(session: AsyncSession, notifier: Notifier) -> Outbox:
    """:func:`paykit.notifications.attach_notifier` for an ``AsyncSession``: events
    are delivered after ``await session.commit()``."""
    return _attach(session.sync_session, notifier)
