"""paykit's shipped migrations: idempotent, reversible, equal to the models, good neighbours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.migrator import VERSION_TABLE, include_paykit_object
from paykit.models import Base

PAYKIT_TABLES = set(Base.metadata.tables)


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrate_is_idempotent_and_reaches_head(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    assert paykit.current_revision(engine) is None
    paykit.migrate(engine)
    paykit.migrate(engine)  # a second run changes nothing and does not fail
    assert paykit.current_revision(engine) == paykit.head_revision()
    assert _tables(engine) >= PAYKIT_TABLES
    assert "alembic_version" not in _tables(engine)  # paykit keeps its own version table
    assert VERSION_TABLE in _tables(engine)


def test_migrate_accepts_url_engine_and_connection(
    database_url: tuple[str, dict[str, object]], make_engine: Callable[..., Engine]
) -> None:
    url, kwargs = database_url
    if not kwargs:  # SQLite: a URL is enough to reach the same file
        paykit.migrate(url)
        assert paykit.current_revision(url) == paykit.head_revision()
    engine = make_engine()
    with engine.begin() as conn:
        paykit.migrate(conn)  # the caller's transaction holds the DDL
    assert _tables(engine) >= PAYKIT_TABLES


def test_downgrade_to_base_removes_everything(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    paykit.migrate(engine)
    paykit.downgrade(engine, "base")
    assert _tables(engine) & PAYKIT_TABLES == set()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            enums = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                )
            ).scalar_one()
        assert enums == 0
    paykit.migrate(engine)  # and back up again
    assert _tables(engine) >= PAYKIT_TABLES


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": include_paykit_object,
            },
        )
        return list(compare_metadata(context, Base.metadata))


def test_autogenerate_diff_is_empty(fresh_engine: Engine) -> None:
    assert _diff(fresh_engine) == []


def test_diff_detects_a_drift(fresh_engine: Engine) -> None:
    # The empty-diff test above can fail: drop an index and the diff sees it.
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX idx_users_role_status")
    assert _diff(fresh_engine) != []


HOST_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "host0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "host_widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("users.id"), nullable=False),
    )


def downgrade():
    op.drop_table("host_widgets")
"""

HOST_ENV = """
from alembic import context
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""


def test_host_alembic_history_lives_beside_paykits(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / "host0001_widgets.py").write_text(HOST_REVISION)
    (tmp_path / "env.py").write_text(HOST_ENV)
    (tmp_path / "script.py.mako").write_text("")
    engine = make_engine()

    def host(action: Callable[[Config, str], None], target: str) -> None:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(tmp_path))
            config.attributes["connection"] = conn
            action(config, target)

    paykit.migrate(engine)
    host(command.upgrade, "head")  # the host's table references paykit's users
    tables = _tables(engine)
    assert {"host_widgets", "alembic_version", VERSION_TABLE} <= tables
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            == "host0001"
        )
        assert (
            conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
            == paykit.head_revision()
        )
    assert paykit.current_revision(engine) == paykit.head_revision()
    paykit.migrate(engine)  # paykit ignores the host's table and history
    assert _diff(engine) == []

    host(command.downgrade, "base")
    assert "host_widgets" not in _tables(engine)
    paykit.downgrade(engine, "base")
    assert _tables(engine) & PAYKIT_TABLES == set()


def _subscription_columns(engine: Engine) -> dict[str, dict[str, object]]:
    return {c["name"]: dict(c) for c in sa.inspect(engine).get_columns("subscriptions")}


def test_0017_adds_the_subscriptions_default_payment_method_and_drops_it(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    paykit.migrate(engine, "0016")
    assert "default_payment_method_id" not in _subscription_columns(engine)
    paykit.migrate(engine, "0017")
    column = _subscription_columns(engine)["default_payment_method_id"]
    assert column["nullable"] is True
    # No foreign key: the gateway's id may name a method not synced into payment_methods yet.
    keys = sa.inspect(engine).get_foreign_keys("subscriptions")
    assert all("default_payment_method_id" not in key["constrained_columns"] for key in keys)
    paykit.downgrade(engine, "0016")
    assert "default_payment_method_id" not in _subscription_columns(engine)
    assert paykit.current_revision(engine) == "0016"
    paykit.migrate(engine)
    assert "default_payment_method_id" in _subscription_columns(engine)


def test_0017_keeps_the_subscriptions_and_their_children_both_ways(
    make_engine: Callable[..., Engine],
) -> None:
    # subscriptions has children (items CASCADE): neither direction may copy the table.
    engine = make_engine()
    paykit.migrate(engine)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        product = f.product(session, type=m.ProductType.SUBSCRIPTION)
        price = f.price(session, product, type=m.PriceType.RECURRING)
        sub = m.Subscription(
            user_id=f.user(session).id,
            product_id=product.id,
            price_id=price.id,
            stripe_subscription_id="sub_kept",
            status=m.SubscriptionStatus.ACTIVE,
            current_period_start=at,
            current_period_end=at + timedelta(days=30),
            unit_amount=Decimal("10.00"),
            default_payment_method_id="pm_kept",
        )
        session.add(sub)
        session.flush()
        session.add(
            m.SubscriptionItem(
                subscription_id=sub.id, price_id=price.id, unit_amount=Decimal("10.00")
            )
        )
        session.commit()

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            return (
                conn.execute(sa.text("SELECT count(*) FROM subscriptions")).scalar_one(),
                conn.execute(sa.text("SELECT count(*) FROM subscription_items")).scalar_one(),
            )

    assert counts() == (1, 1)
    paykit.downgrade(engine, "0016")
    assert counts() == (1, 1)
    paykit.migrate(engine)
    assert counts() == (1, 1)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT default_payment_method_id FROM subscriptions"))
        assert stored.scalar_one() is None  # filled again by the next sync
