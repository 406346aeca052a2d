"""Shared fixtures: one migrated database per backend, isolated sessions, fresh databases.

PostgreSQL comes from ``PAYKIT_TEST_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test run works in
schemas of its own (``search_path``), so parallel runs and helpers never see
each other's rows. Where no server answers, PostgreSQL tests skip with a
one-line reason, unless ``CI`` or ``PAYKIT_REQUIRE_POSTGRES`` is set: then
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import paykit
from paykit.db import create_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def pg_url() -> str:
    return os.environ.get("PAYKIT_TEST_DATABASE_URL", DEFAULT_PG_URL)


def _postgres_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("PAYKIT_REQUIRE_POSTGRES"))


_pg_status: dict[str, str | None] = {}


def require_postgres() -> None:
    """Skip (or, in CI, fail) the calling test when PostgreSQL does not answer."""
    if "error" not in _pg_status:
        engine = create_engine(pg_url(), pool_pre_ping=False)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            _pg_status["error"] = None
        except Exception as exc:
            _pg_status["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            engine.dispose()
    error = _pg_status["error"]
    if error is not None:
        reason = f"PostgreSQL not reachable at {pg_url()}: {error}"
        if _postgres_required():
            pytest.fail(reason + " (CI or PAYKIT_REQUIRE_POSTGRES is set)", pytrace=False)
        pytest.skip(reason)


#: ``PAYKIT_TEST_SCHEMA=1``: every database the fixtures make is a host whose own
#: namespace is empty, with paykit's tables in a schema of their own
#: (``paykit.use_schema``: a PostgreSQL schema, or an attached SQLite file), so
#: the suite checks that paykit works when it is not the host's default
#: namespace (docs/hosting.md). Tests that read tables with hand-written SQL
#: assume the default namespace and do not apply in that mode.
SCHEMA_MODE = os.environ.get("PAYKIT_TEST_SCHEMA", "") not in ("", "0")


class DatabaseFactory:
    """Makes empty databases on one backend and cleans them up at the end."""

    def __init__(self, backend: str, tmp_dir: Path) -> None:
        self.backend = backend
        self._tmp_dir = tmp_dir
        self._engines: list[Engine] = []  # disposed after each test
        self._shared: list[Engine] = []  # live for the whole run
        self._schemas: list[str] = []

    def url_and_kwargs(self) -> tuple[str, dict[str, object]]:
        if self.backend == "sqlite":
            path = self._tmp_dir / f"paykit-{uuid.uuid4().hex[:12]}.db"
            return f"sqlite:///{path}", {}
        schema = f"pk_{uuid.uuid4().hex[:12]}"
        admin = create_engine(pg_url())
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        admin.dispose()
        self._schemas.append(schema)
        return pg_url(), {"connect_args": {"options": f"-csearch_path={schema}"}}

    def empty(self, *, shared: bool = False, **engine_kwargs: object) -> Engine:
        url, kwargs = self.url_and_kwargs()
        kwargs.update(engine_kwargs)
        if SCHEMA_MODE:
            kwargs["schema"] = self._paykit_schema()
        engine = create_engine(url, **kwargs)
        (self._shared if shared else self._engines).append(engine)
        return engine

    def _paykit_schema(self) -> str:
        schema = f"pk_{uuid.uuid4().hex[:12]}"
        if self.backend == "postgresql":
            self._schemas.append(schema)  # paykit.migrate creates it; close() drops it
        return schema

    def migrated(self, *, shared: bool = False, **engine_kwargs: object) -> Engine:
        engine = self.empty(shared=shared, **engine_kwargs)
        paykit.migrate(engine)
        return engine

    def dispose_engines(self) -> None:
        """Close the pooled connections of every engine made so far (schemas stay)."""
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()

    def close(self) -> None:
        self.dispose_engines()
        for engine in self._shared:
            engine.dispose()
        if self._schemas:
            admin = create_engine(pg_url())
            for schema in self._schemas:
                # One transaction per schema: a DROP ... CASCADE locks every object
                # in it, and all schemas at once exceed max_locks_per_transaction.
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()


@pytest.fixture(scope="session")
def _factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    base = tmp_path_factory.mktemp("dbs")
    factories = {name: DatabaseFactory(name, base) for name in BACKENDS}
    yield factories
    for factory in factories.values():
        factory.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once on SQLite and once on PostgreSQL."""
    name: str = request.param
    if name == "postgresql":
        require_postgres()
    return name


@pytest.fixture
def db_factory(backend: str, _factories: dict[str, DatabaseFactory]) -> DatabaseFactory:
    """Makes fresh, committed-to databases on the current backend."""
    return _factories[backend]


@pytest.fixture(autouse=True)
def _dispose_test_engines(_factories: dict[str, DatabaseFactory]) -> Iterator[None]:
    """Engines a test made are disposed after it, so a long run never holds more
    PostgreSQL connections than one test needs (the server allows 100)."""
    yield
    for factory in _factories.values():
        factory.dispose_engines()


_shared_engines: dict[str, Engine] = {}


def _shared(backend: str, factories: dict[str, DatabaseFactory]) -> Engine:
    if backend not in _shared_engines:
        _shared_engines[backend] = factories[backend].migrated(shared=True)
    return _shared_engines[backend]


@pytest.fixture
def engine(backend: str, _factories: dict[str, DatabaseFactory]) -> Engine:
    """A migrated database shared by the tests of one backend (use ``session`` for isolation)."""
    return _shared(backend, _factories)


@pytest.fixture
def pg_engine(_factories: dict[str, DatabaseFactory]) -> Engine:
    """The shared migrated PostgreSQL database, for PostgreSQL-only tests."""
    require_postgres()
    return _shared("postgresql", _factories)


@pytest.fixture
def sqlite_engine(_factories: dict[str, DatabaseFactory]) -> Engine:
    """The shared migrated SQLite database, for SQLite-only tests."""
    return _shared("sqlite", _factories)


@pytest.fixture
def session(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    ``session.commit()`` inside a test releases a SAVEPOINT, so tests may
    commit and still leave nothing behind. With ``PAYKIT_CHECK_EACH_TEST=<file>``
    set, ``paykit.check`` runs on what each test leaves behind, before the
    rollback, and its findings are appended to that file (see docs/operations.md).
    """
    with engine.connect() as conn:
        outer = conn.begin()
        db = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield db
            _check_left_behind(db, request.node)
        finally:
            db.close()
            outer.rollback()


def _check_left_behind(db: Session, node: pytest.Item) -> None:
    """``paykit.check`` on what a test leaves behind (``PAYKIT_CHECK_EACH_TEST``).

    ``strict``: a finding fails the test, unless it is marked
    ``@pytest.mark.partial_state("why")`` (a test of one step of a flow, or one
    that breaks an invariant on purpose). Any other value: a file to which
    each test's result is appended as one JSON line.
    """
    target = os.environ.get("PAYKIT_CHECK_EACH_TEST")
    if not target or node.get_closest_marker("partial_state") is not None:
        return
    import json

    try:
        result = paykit.check(db).to_dict()
    except Exception as exc:  # a test that leaves a failed transaction behind
        result = {"ok": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if target == "strict":
        if result.get("ok") is False:
            found = [(f["invariant"], f["examples"]) for f in result.get("findings", [])]
            pytest.fail(f"paykit.check finds what this test left behind: {found}")
        return
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": node.nodeid, **result}) + "\n")


@pytest.fixture
def fresh_engine(db_factory: DatabaseFactory) -> Engine:
    """A migrated database of its own, for tests that commit (CLI, concurrency)."""
    return db_factory.migrated()


@pytest.fixture
def make_engine(db_factory: DatabaseFactory) -> Callable[..., Engine]:
    """Factory for empty (not migrated) databases on the current backend."""
    return db_factory.empty


@pytest.fixture
def database_url(db_factory: DatabaseFactory) -> tuple[str, dict[str, object]]:
    """A URL (and engine kwargs) for an empty database on the current backend."""
    return db_factory.url_and_kwargs()


@pytest.fixture
def subprocess_env(database_url: tuple[str, dict[str, object]]) -> dict[str, str]:
    """Environment for a subprocess (the CLI) that must reach ``database_url``'s database."""
    url, kwargs = database_url
    env = dict(os.environ)
    env["PAYKIT_DATABASE_URL"] = url
    connect_args = kwargs.get("connect_args", {})
    if isinstance(connect_args, dict) and "options" in connect_args:
        env["PGOPTIONS"] = str(connect_args["options"])  # libpq reads it: same search_path
    return env
