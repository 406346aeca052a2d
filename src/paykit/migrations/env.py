"""Alembic environment for paykit's shipped migrations.

Run through :func:`paykit.migrate`, which passes a connection in
``config.attributes["connection"]``. Offline (SQL script) mode is supported for
DBAs who review DDL before applying it.
"""

from __future__ import annotations

from alembic import context

from paykit.migrator import include_paykit_object
from paykit.models import Base

config = context.config
target_metadata = Base.metadata
version_table = config.get_main_option("version_table") or "paykit_alembic_version"
# The schema paykit's tables live in (PostgreSQL; see paykit.migrate(schema=...)):
# the migration connection has it as its search path, and the version table is there too.
version_table_schema = config.attributes.get("version_table_schema")


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=version_table,
        include_object=include_paykit_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from paykit.db import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as connection:
            _run(connection)
        engine.dispose()
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        version_table_schema=version_table_schema,
        include_object=include_paykit_object,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
