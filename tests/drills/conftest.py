"""Fixtures of the drills: throwaway clusters, and scratch databases on the main server.

The drills are not part of the normal ``tests`` session (pyproject's
``--ignore=tests/drills``); ``nox -s drills`` runs them. They always need
PostgreSQL: the server of ``PAYKIT_TEST_DATABASE_URL`` for the logical backup
and the upgrade test, and PostgreSQL's server binaries (``PAYKIT_PG_BINDIR``,
default the newest /usr/lib/postgresql/*/bin) for the clusters they start.
Nothing is skipped: a missing server or binary fails the drill.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL, make_url
from tests.drills.pgcluster import Workspace, workspace

from paykit.db import create_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def server_url() -> URL:
    """The main PostgreSQL server (``PAYKIT_TEST_DATABASE_URL``), checked to answer."""
    url = make_url(os.environ.get("PAYKIT_TEST_DATABASE_URL", DEFAULT_PG_URL))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        pytest.fail(f"the drills need PostgreSQL at {url!r}: {exc}", pytrace=False)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def scratch_database(server_url: URL) -> Iterator[Callable[[], URL]]:
    """Makes empty databases on the main server; drops them after the test."""
    made: list[str] = []
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")

    def make() -> URL:
        name = f"paykit_drill_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return server_url.set(database=name)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def space() -> Iterator[Workspace]:
    """A directory for this module's clusters; every cluster is stopped at the end."""
    with workspace() as ws:
        yield ws
