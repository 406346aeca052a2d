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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine

from paykit._arguments import checked
from paykit.db import create_engine
from paykit.errors import ValidationError

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


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for paykit's migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _connection(bind: Engine | Connection | str | URL) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
        return
    engine = bind if isinstance(bind, Engine) else create_engine(bind)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if not isinstance(bind, Engine):
            engine.dispose()


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


@checked
def migrate(bind: Engine | Connection | str | URL, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the latest). Idempotent.

    ``bind`` is an Engine, a Connection (the caller owns its transaction) or a
    database URL. On PostgreSQL with row-level security turned on
    (:func:`paykit.security.rls.enable_row_level_security`), the policies are
    re-applied for the new revision.
    """
    from paykit.security.rls import refresh_row_level_security

    with _connection(bind) as connection, _revision_errors(revision):
        # "heads" also reaches every head of a history that briefly branched.
        command.upgrade(alembic_config(connection), "heads" if revision == "head" else revision)
        # A database with row-level security on gets the policies of the new
        # revision (new tables, changed rules) in the same transaction.
        refresh_row_level_security(connection)


@checked
def downgrade(bind: Engine | Connection | str | URL, revision: str = "base") -> None:
    """Downgrade the database to ``revision`` (default: ``base``, dropping paykit's tables)."""
    with _connection(bind) as connection, _revision_errors(revision):
        command.downgrade(alembic_config(connection), revision)


@checked
def current_revision(bind: Engine | Connection | str | URL) -> str | None:
    """The paykit revision the database is at, or None if paykit was never migrated there.

    (Several heads, should a history branch, are joined with commas.)
    """
    with _connection(bind) as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        heads = context.get_current_heads()
        return ",".join(sorted(heads)) if heads else None


@checked
def head_revision() -> str:
    """The newest revision shipped with this version of paykit."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return ",".join(sorted(heads))
