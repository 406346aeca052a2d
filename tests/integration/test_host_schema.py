"""paykit installed beside a host that owns ``users``, ``orders``, ``products`` (issue 15).

The host (``tests/host_app.py``) has its own tables and its own Alembic
history; paykit lives in a schema of its own (PostgreSQL) or an attached
database file (SQLite). Both histories migrate, paykit's services run, and the
host's rows stay exactly as they were.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.conftest import pg_url, require_postgres
from tests.host_app import ADDRESS, HOST_TABLES, HostApp, Shop, build_host_app

import paykit
from paykit import errors
from paykit import models as m
from paykit.cli import main
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.migrator import VERSION_TABLE
from paykit.security import Actor, Keyring, new_key, reencrypt_personal_data, use_keyring
from paykit.security.rls import enable_row_level_security, set_actor
from paykit.stripe.worker import work_inbox


@pytest.fixture
def host(backend: str, tmp_path: Path) -> Iterator[HostApp]:
    app = build_host_app(backend, tmp_path, pg_url=pg_url())
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def installed(host: HostApp) -> HostApp:
    """Both histories migrated: the host's first, then paykit's."""
    host.migrate_host()
    host.migrate_paykit()
    return host


def checkout(host: HostApp, shop: Shop) -> str:
    """place_order, then pay_order after the commit; the order's id."""
    with host.session() as session:
        placed = paykit.place_order(
            session,
            customer_id=shop.customer_id,
            items=[{"price_id": shop.price_id, "quantity": 1}],
            billing_address=ADDRESS,
            payment_method_id="pm_card_visa",
            gateway=host.gateway,
            clock=host.clock,
        )
        order_id = placed.order.id
    with host.session() as session:
        paid = paykit.pay_order(session, order_id=order_id, gateway=host.gateway, clock=host.clock)
        assert (paid.order.status, paid.order.total_amount) == (
            m.OrderStatus.COMPLETED,
            Decimal("44.00"),
        )
    return order_id


def paykit_tables(host: HostApp) -> set[str]:
    """Tables in paykit's schema (PostgreSQL) or its attached file (SQLite)."""
    with host.paykit_engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names(schema=host.schema))


def test_both_histories_migrate_and_checkout_refund_webhook_run(installed: HostApp) -> None:
    host = installed
    before = host.host_rows()
    assert before["users"] == [(1, "host-owner@example.com")]
    # Two version tables, one per history, each in its own namespace.
    assert host.host_revision() == "h0002"
    assert paykit.current_revision(host.paykit_engine) == paykit.head_revision()
    assert paykit.current_revision(host.host_engine) is None  # nothing of paykit's there
    assert {"users", "orders", "products", VERSION_TABLE} <= paykit_tables(host)
    with host.host_engine.connect() as connection:
        host_tables = set(sa.inspect(connection).get_table_names())
    assert host_tables == {*HOST_TABLES, "alembic_version"}

    shop = host.seed_shop()
    order_id = checkout(host, shop)
    with host.session() as session:
        refund = paykit.issue_refund(
            session,
            order_id=order_id,
            amount=Decimal("10.00"),
            reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
            actor_id=shop.support_id,
            gateway=host.gateway,
            clock=host.clock,
        )
        assert refund.status == m.RefundStatus.SUCCEEDED
    events = host.gateway.drain_events()
    assert [e["type"] for e in events] == ["payment_intent.succeeded", "refund.created"]
    with host.session() as session:
        statuses = [host.deliver(session, event).body["status"] for event in events]
    assert statuses == ["processed", "processed"]
    with host.session() as session:
        order = session.get(m.Order, order_id)
        assert order is not None
        assert order.refunded_amount == Decimal("10.00")
        stored = session.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent))
        assert stored == 2
    assert host.host_rows() == before


def test_the_order_of_the_two_histories_does_not_matter(host: HostApp) -> None:
    host.migrate_paykit()
    host.migrate_host()
    host.migrate_paykit()  # idempotent
    assert host.host_revision() == "h0002"
    assert paykit.current_revision(host.paykit_engine) == paykit.head_revision()
    checkout(host, host.seed_shop())
    assert host.host_rows()["orders"][0][0] == 1
    assert len(host.host_rows()["orders"]) == 1


def test_downgrade_drops_paykits_tables_only(installed: HostApp) -> None:
    host = installed
    before = host.host_rows()
    paykit.downgrade(host.paykit_engine)
    assert paykit.current_revision(host.paykit_engine) is None
    assert paykit_tables(host) <= {VERSION_TABLE}
    assert host.host_rows() == before
    assert host.host_revision() == "h0002"
    paykit.migrate(host.paykit_engine, schema=host.schema)  # the explicit form
    assert paykit.current_revision(host.paykit_engine, schema=host.schema) == paykit.head_revision()


def test_paykit_before_its_migration_is_schema_unavailable(host: HostApp) -> None:
    host.migrate_host()
    assert paykit.current_revision(host.paykit_engine) is None
    with pytest.raises(errors.ConfigurationError) as caught, host.session() as session:
        session.scalar(sa.select(sa.func.count()).select_from(m.User))
    assert caught.value.code == "schema_unavailable"
    assert caught.value.details["schema"] == host.schema
    assert len(host.host_rows()["users"]) == 1  # the host's own engine still works


def test_a_missing_schema_is_schema_unavailable_on_downgrade(host: HostApp) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        paykit.downgrade(host.paykit_engine)
    assert caught.value.code == "schema_unavailable"


@pytest.mark.parametrize(
    "name", ["", "Billing", "1abc", "main", "temp", "public", "pg_x", "a-b", "a;drop", "x" * 64]
)
def test_unusable_schema_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        create_engine(f"sqlite:///{tmp_path / 'h.db'}", schema=name)
    assert caught.value.code == "invalid_argument"
    assert caught.value.details["param"] == "schema"
    with pytest.raises(errors.ValidationError):
        paykit.migrate(f"sqlite:///{tmp_path / 'h.db'}", schema=name)


def test_in_memory_sqlite_needs_a_schema_file() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        create_engine("sqlite://", schema="billing")
    assert caught.value.code == "schema_unavailable"


def test_a_schema_file_elsewhere(tmp_path: Path) -> None:
    elsewhere = tmp_path / "data" / "paykit-billing.sqlite"
    elsewhere.parent.mkdir()
    engine = create_engine(
        f"sqlite:///{tmp_path / 'host.db'}", schema="billing", schema_file=elsewhere
    )
    try:
        paykit.migrate(engine)
        assert elsewhere.is_file()
        with Session(engine) as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(m.User)) == 0
        assert not (tmp_path / "billing.db").exists()
    finally:
        engine.dispose()


def test_a_schema_file_is_for_sqlite_only() -> None:
    require_postgres()
    with pytest.raises(errors.ValidationError):
        create_engine(pg_url(), schema="billing", schema_file="x.db")


def test_cli_migrate_and_seed_into_a_schema(
    installed: HostApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = installed
    url = host.host_engine.url.render_as_string(hide_password=False)
    # paykit's statements name its schema: the host's search path does not matter to them.
    out = io.StringIO()
    assert main(["--database-url", url, "--schema", host.schema, "migrate"], out=out) == 0
    assert f"at revision {paykit.head_revision()} (in schema {host.schema})" in out.getvalue()
    monkeypatch.setenv("PAYKIT_DB_SCHEMA", host.schema)
    monkeypatch.setenv("PAYKIT_ADMIN_PASSWORD", "correct horse battery staple")
    assert main(["--database-url", url, "seed"], out=io.StringIO()) == 0
    with host.session() as session:
        admins = session.scalars(sa.select(m.User).where(m.User.role == m.UserRole.ADMIN)).all()
        assert len(admins) == 1
    assert len(host.host_rows()["users"]) == 1


def test_row_level_security_in_a_schema(installed: HostApp) -> None:
    """Policies and owner functions are created in paykit's schema and work for an app
    role that owns nothing and whose search path is the host's."""
    host = installed
    if host.backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    shop = host.seed_shop()
    order_id = checkout(host, shop)
    enable_row_level_security(host.paykit_engine)
    with host.host_engine.connect() as connection:
        policies = connection.execute(
            sa.text("SELECT count(*) FROM pg_policies WHERE schemaname = :s"), {"s": host.schema}
        ).scalar_one()
        owner_fn = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_proc WHERE proname = 'paykit_order_owner' "
                "AND pronamespace = to_regnamespace(:s)"
            ),
            {"s": host.schema},
        ).scalar_one()
        host_policies = connection.execute(
            sa.text("SELECT count(*) FROM pg_policies WHERE schemaname = current_schema()")
        ).scalar_one()
    assert policies >= 4 * 10
    assert owner_fn == 1
    assert host_policies == 0
    role = f"pk_app_{uuid.uuid4().hex[:10]}"
    with host.host_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {host.schema} TO {role}")
        connection.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {host.schema} TO {role}"
        )
    app = paykit.use_schema(
        create_engine(
            sa.make_url(pg_url()).set(username=role, password=None),
            connect_args={"options": f"-csearch_path={host._drop_schemas[0]}"},
        ),
        host.schema,
    )
    try:
        with Session(app) as session, session.begin():
            set_actor(session, Actor(shop.customer_id, m.UserRole.CUSTOMER))
            assert [o.id for o in session.scalars(sa.select(m.Order))] == [order_id]
            items = session.scalars(sa.select(m.OrderItem)).all()
            assert [i.order_id for i in items] == [order_id]
        with Session(app) as session, session.begin():
            set_actor(session, Actor(shop.support_id, m.UserRole.CUSTOMER))
            assert session.scalars(sa.select(m.Order)).all() == []
            assert session.scalars(sa.select(m.OrderItem)).all() == []
        with Session(app) as session, session.begin():
            set_actor(session, None)  # fails closed
            assert session.scalars(sa.select(m.Order)).all() == []
        paykit.migrate(host.paykit_engine)  # re-applies the policies in the schema
    finally:
        app.dispose()
        with host.host_engine.begin() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")


# --------------------------------------------------------------------- the sweep
# The key flows of paykit's public surface, each in a host whose own tables share
# the names, with paykit in its schema (PAYKIT_TEST_SCHEMA=1 runs the whole
# integration suite's fixtures in that shape too).


def _users_and_sessions(host: HostApp, session: Session, shop: Shop) -> None:
    hasher = paykit.security.PasswordHasher(rounds=4, allow_weak=True)
    email = f"u{uuid.uuid4().hex[:8]}@example.com"
    data = {"email": email, "password": "correct horse battery", "name": "Una Host"}
    paykit.register_user(session, data, hasher=hasher, clock=host.clock)
    result = paykit.login(
        session, email=email, password="correct horse battery", hasher=hasher, clock=host.clock
    )
    assert paykit.validate_session(session, result.token, clock=host.clock).user_id


def _catalog(host: HostApp, session: Session, shop: Shop) -> None:
    admin = Actor(shop.admin_id, m.UserRole.ADMIN)
    paykit.create_category(session, actor=admin, name="Tools", slug="tools", clock=host.clock)
    assert [node.slug for node in paykit.category_tree(session)] == ["tools"]
    page = paykit.list_products(session, search="product")
    assert page.items
    assert paykit.quote_order(
        session, customer_id=shop.customer_id, items=[{"price_id": shop.price_id, "quantity": 2}]
    ).total_amount == Decimal("88.00")


def _orders_and_reads(host: HostApp, session: Session, shop: Shop) -> None:
    placed = paykit.place_order(
        session,
        customer_id=shop.customer_id,
        items=[{"price_id": shop.price_id, "quantity": 1}],
        billing_address=ADDRESS,
        payment_method_id="pm_card_visa",
        gateway=host.gateway,
        clock=host.clock,
        idempotency_key="host-key-1",
    )
    again = paykit.place_order(
        session,
        customer_id=shop.customer_id,
        items=[{"price_id": shop.price_id, "quantity": 1}],
        billing_address=ADDRESS,
        payment_method_id="pm_card_visa",
        gateway=host.gateway,
        clock=host.clock,
        idempotency_key="host-key-1",
    )
    assert again.order.id == placed.order.id
    customer = Actor(shop.customer_id, m.UserRole.CUSTOMER)
    assert [o.id for o in paykit.list_orders(session, actor=customer).items] == [placed.order.id]
    paykit.cancel_order(session, order_id=placed.order.id, gateway=host.gateway, clock=host.clock)
    later = FrozenClock(host.clock.now() + timedelta(hours=2))
    assert paykit.release_expired_orders(session, gateway=host.gateway, clock=later) == []


def _reviews_and_operations(host: HostApp, session: Session, shop: Shop) -> None:
    order_id = checkout_in(host, session, shop)
    product_id = session.get(m.Order, order_id).items[0].product_id  # type: ignore[union-attr]
    customer = Actor(shop.customer_id, m.UserRole.CUSTOMER)
    paykit.create_review(
        session, actor=customer, product_id=product_id, rating=5, content="Good", clock=host.clock
    )
    assert paykit.check(session).ok
    paykit.purge_old_records(session, clock=host.clock, dry_run=True)


def _subscriptions(host: HostApp, session: Session, shop: Shop) -> None:
    stripe_price = host.gateway.add_price(unit_amount=1000, currency="usd")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    price = f.price(session, product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    subscription = paykit.subscribe(
        session,
        user_id=shop.customer_id,
        price_id=price.id,
        payment_method_id="pm_card_visa",
        gateway=host.gateway,
        clock=host.clock,
    )
    assert subscription.status == m.SubscriptionStatus.ACTIVE
    for event in host.gateway.drain_events():
        assert host.deliver(session, event).status_code == 200
    work_inbox(session, gateway=host.gateway, clock=host.clock)


def checkout_in(host: HostApp, session: Session, shop: Shop) -> str:
    placed = paykit.place_order(
        session,
        customer_id=shop.customer_id,
        items=[{"price_id": shop.price_id, "quantity": 1}],
        billing_address=ADDRESS,
        payment_method_id="pm_card_visa",
        gateway=host.gateway,
        clock=host.clock,
    )
    paykit.pay_order(session, order_id=placed.order.id, gateway=host.gateway, clock=host.clock)
    return placed.order.id


FLOWS = {
    "users_and_sessions": _users_and_sessions,
    "catalog": _catalog,
    "orders_and_reads": _orders_and_reads,
    "reviews_and_operations": _reviews_and_operations,
    "subscriptions": _subscriptions,
}


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_key_flows_work_in_a_schema(installed: HostApp, flow: str) -> None:
    host = installed
    before = host.host_rows()
    shop = host.seed_shop()
    with host.session() as session:
        FLOWS[flow](host, session, shop)
    assert host.host_rows() == before


def test_migrate_through_a_connection_the_host_owns(host: HostApp) -> None:
    """On PostgreSQL in the caller's transaction; on SQLite the schema's file commits on
    its own connection."""
    host.migrate_host()
    with host.paykit_engine.connect() as connection:
        paykit.migrate(connection)
        assert paykit.current_revision(connection) == paykit.head_revision()
        connection.commit()
    assert paykit.current_revision(host.paykit_engine) == paykit.head_revision()
    checkout(host, host.seed_shop())


def test_a_missing_folder_for_the_schema_file(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'host.db'}", schema="billing", schema_file=tmp_path / "no" / "b.db"
    )
    with pytest.raises(errors.ConfigurationError) as caught:
        paykit.migrate(engine)
    assert caught.value.code == "schema_unavailable"
    engine.dispose()


def test_paykit_without_a_schema_names_the_tables_it_would_collide_with(host: HostApp) -> None:
    host.migrate_host()
    with pytest.raises(errors.ConfigurationError) as caught:
        paykit.migrate(host.host_engine)
    assert caught.value.code == "table_name_collision"
    assert caught.value.details["tables"] == ["orders", "products", "users"]
    assert paykit.current_revision(host.host_engine) is None
    assert host.host_revision() == "h0002"


def test_key_rotation_reencrypts_paykits_users_not_the_hosts(installed: HostApp) -> None:
    """reencrypt_personal_data reads raw ciphertext through lightweight tables, which
    schema_translate_map does not rewrite: they must name paykit's schema themselves."""
    host = installed
    before = host.host_rows()
    ring = Keyring.generate("k1")
    with use_keyring(ring), host.session() as session:
        user = f.user(session)
        paykit.update_profile(
            session,
            actor=Actor.of(user),
            user_id=user.id,
            changes={"phone": "+44 20 7946 0958", "tax_id": "GB999999973"},
            clock=host.clock,
        )
    rotated = ring.with_key("k2", new_key())
    with use_keyring(rotated), host.session() as session:
        result = reencrypt_personal_data(session)
        assert (result.rows_updated, result.remaining) == (1, 0)
    only_new = Keyring({"k2": rotated.keys["k2"]}, "k2")
    with use_keyring(only_new), host.session() as session:
        loaded = session.get(m.User, user.id)
        assert loaded is not None
        assert loaded.phone == "+44 20 7946 0958"
    assert host.host_rows() == before
