"""A scratch host application that owns ``users``, ``orders`` and ``products`` itself.

Reusable by any test that needs paykit installed *next to* a host's own tables
and its own Alembic history (issue 15): the service-level flow in
``tests/integration/test_host_schema.py``, and the HTTP adapters later.

* SQLite: the host's tables are in ``host.db``; paykit's are in
  ``<schema>.db``, ATTACHed to every connection as ``<schema>``.
* PostgreSQL: the host's tables are in a schema of their own (its
  ``search_path``, standing in for ``public``); paykit's are in ``<schema>``.

The host's Alembic environment is a tiny one written into a temporary folder:
its version table is Alembic's default ``alembic_version``, paykit's is
``paykit_alembic_version`` in paykit's schema.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.testing import FakeGateway, signed_webhook

HOST_TABLES = ("users", "orders", "products")
WEBHOOK_SECRET = "whsec_host_app"
T0 = datetime(2026, 5, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}

_ENV_PY = """
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""

_HOST_0001 = '''
"""The host's own shop tables, with the names paykit uses too."""
import sqlalchemy as sa
from alembic import op

revision = "h0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("total", sa.Numeric(10, 2), nullable=False),
    )
    op.execute("INSERT INTO users (id, email) VALUES (1, 'host-owner@example.com')")
    op.execute("INSERT INTO products (id, sku, name) VALUES (1, 'HOST-1', 'Host widget')")
    op.execute("INSERT INTO orders (id, user_id, total) VALUES (1, 1, 12.50)")


def downgrade():
    op.drop_table("orders")
    op.drop_table("products")
    op.drop_table("users")
'''

_HOST_0002 = '''
"""A second host revision, so the host's history is more than one step."""
import sqlalchemy as sa
from alembic import op

revision = "h0002"
down_revision = "h0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("note", sa.Text, nullable=True))
    op.execute("UPDATE orders SET note = 'the host wrote this' WHERE id = 1")


def downgrade():
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("note")
'''


@dataclass
class Shop:
    """What a checkout needs, created in paykit's tables through paykit's engine."""

    customer_id: str
    support_id: str
    admin_id: str
    price_id: str


@dataclass
class HostApp:
    """A host with its own tables and Alembic history, and paykit in ``schema`` beside them."""

    backend: str
    host_engine: Engine  # the host's own connection settings; its tables unqualified
    paykit_engine: Engine  # paykit.use_schema(host_engine, schema): the same pool
    schema: str
    alembic_dir: Path
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(T0))
    _drop_schemas: tuple[str, ...] = ()
    _admin_url: str | None = None

    def alembic_config(self, connection: sa.Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.alembic_dir))
        config.attributes["connection"] = connection
        return config

    def migrate_host(self, revision: str = "head") -> None:
        """Run the host's own Alembic history (version table ``alembic_version``)."""
        with self.host_engine.begin() as connection:
            command.upgrade(self.alembic_config(connection), revision)

    def host_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.host_engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def migrate_paykit(self) -> None:
        """``paykit.migrate`` into paykit's schema."""
        paykit.migrate(self.paykit_engine)

    def host_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the host's own tables, to show paykit left them alone."""
        with self.host_engine.connect() as connection:
            return {
                table: [
                    tuple(row)
                    for row in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")
                ]
                for table in HOST_TABLES
            }

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A paykit session in one transaction, committed at the end (the host owns it)."""
        with Session(self.paykit_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def seed_shop(self) -> Shop:
        """A customer, a support agent, an admin and one priced product, in paykit's tables."""
        with self.session() as session:
            customer = f.user(session)
            support = f.user(session, role=m.UserRole.SUPPORT)
            admin = f.user(session, role=m.UserRole.ADMIN)
            product = f.product(session, base_price=Decimal("40.00"), tax_rate=Decimal("0.10"))
            price = f.price(session, product)
            return Shop(customer.id, support.id, admin.id, price.id)

    def deliver(self, session: Session, event: dict[str, Any]) -> paykit.webhooks.WebhookResponse:
        """``handle_webhook`` with a correctly signed body, as Stripe would post it."""
        body, header = signed_webhook(event, WEBHOOK_SECRET, timestamp=self.clock.now())
        return paykit.webhooks.handle_webhook(
            session,
            body,
            header,
            secrets=WEBHOOK_SECRET,
            gateway=self.gateway,
            clock=self.clock,
        )

    @property
    def gateway(self) -> FakeGateway:
        gateway = self.__dict__.get("_gateway")
        if gateway is None:
            gateway = FakeGateway(clock=self.clock)
            self.__dict__["_gateway"] = gateway
        return gateway

    def close(self) -> None:
        self.host_engine.dispose()
        if self._admin_url and self._drop_schemas:
            admin = create_engine(self._admin_url)
            for schema in self._drop_schemas:
                with admin.begin() as connection:
                    connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()


def write_host_alembic(folder: Path) -> Path:
    """The host's Alembic environment: env.py, script.py.mako and two revisions."""
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(textwrap.dedent(_ENV_PY))
    (folder / "script.py.mako").write_text("")
    (folder / "versions" / "h0001_host_tables.py").write_text(textwrap.dedent(_HOST_0001))
    (folder / "versions" / "h0002_order_note.py").write_text(textwrap.dedent(_HOST_0002))
    return folder


def build_host_app(
    backend: str, tmp_path: Path, *, pg_url: str | None = None, schema: str | None = None
) -> HostApp:
    """A scratch host app on ``backend`` (``sqlite`` or ``postgresql``), nothing migrated yet."""
    alembic_dir = write_host_alembic(tmp_path / "host_alembic")
    schema = schema or f"pk_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        host_engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
        paykit_engine = paykit.use_schema(host_engine, schema)
        return HostApp(backend, host_engine, paykit_engine, schema, alembic_dir)
    assert pg_url is not None
    host_schema = f"host_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {host_schema}")
    admin.dispose()
    # The host's tables are unqualified (its search_path); paykit's schema is
    # created by paykit.migrate.
    host_engine = create_engine(pg_url, connect_args={"options": f"-csearch_path={host_schema}"})
    paykit_engine = paykit.use_schema(host_engine, schema)
    return HostApp(
        backend,
        host_engine,
        paykit_engine,
        schema,
        alembic_dir,
        _drop_schemas=(host_schema, schema),
        _admin_url=pg_url,
    )


def event_json(event: dict[str, Any]) -> bytes:
    """An event as the bytes Stripe posts."""
    return json.dumps(event).encode()
