"""Row-level security on PostgreSQL, seen from a real application role that owns nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory, pg_url, require_postgres

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.security import Actor, PasswordHasher
from paykit.security.rls import (
    RLS_TABLES,
    disable_row_level_security,
    enable_row_level_security,
    set_actor,
    set_system,
)
from paykit.services import users as svc

FAST = PasswordHasher(rounds=4, allow_weak=True)
CLOCK = FrozenClock(datetime(2025, 7, 1, tzinfo=UTC))


@dataclass
class World:
    owner: Engine
    app: Engine
    alice: Actor
    bob: Actor
    support: Actor
    alice_order: str
    bob_order: str
    bob_ticket: str


def _order(session: Session, user: m.User, number: str) -> m.Order:
    order = m.Order(
        user_id=user.id,
        order_number=number,
        subtotal=Decimal("10.00"),
        total_amount=Decimal("10.00"),
        billing_address={"country": "US"},
    )
    session.add(order)
    session.flush()
    return order


@pytest.fixture(scope="module")
def world(_factories: dict[str, DatabaseFactory]) -> Iterator[World]:
    require_postgres()
    owner = _factories["postgresql"].migrated()
    schema = owner.dialect.default_schema_name
    with owner.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    role = f"pk_app_{uuid.uuid4().hex[:10]}"
    with owner.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
    enable_row_level_security(owner)
    enable_row_level_security(owner)  # idempotent
    with Session(owner) as session:
        alice = m.User(email="alice@example.com", name="Alice")
        bob = m.User(email="bob@example.com", name="Bob")
        staff = m.User(email="staff@example.com", name="Staff", role=m.UserRole.SUPPORT)
        session.add_all([alice, bob, staff])
        session.flush()
        a_order, b_order = _order(session, alice, "RLS-A"), _order(session, bob, "RLS-B")
        product = m.Product(
            name="P",
            description="A product.",
            slug="rls-p",
            type=m.ProductType.ONE_TIME,
            base_price=Decimal("10.00"),
        )
        session.add(product)
        session.flush()
        price = m.Price(
            product_id=product.id,
            stripe_price_id="price_rls",
            unit_amount=Decimal("10.00"),
            type=m.PriceType.ONE_TIME,
        )
        session.add(price)
        session.flush()
        for order in (a_order, b_order):
            session.add(
                m.OrderItem(
                    order_id=order.id,
                    product_id=product.id,
                    price_id=price.id,
                    unit_price=Decimal("10.00"),
                    total_price=Decimal("10.00"),
                )
            )
        ticket = m.SupportTicket(customer_id=bob.id, subject="Help", description="Please help")
        session.add(ticket)
        session.flush()
        session.add_all(
            [
                m.TicketMessage(ticket_id=ticket.id, user_id=bob.id, content="hello"),
                m.TicketMessage(
                    ticket_id=ticket.id, user_id=staff.id, content="hush", is_internal=True
                ),
            ]
        )
        session.commit()
        built = World(
            owner=owner,
            app=create_engine(
                make_url(pg_url()).set(username=role, password=None),
                connect_args={"options": f"-csearch_path={schema}"},
            ),
            alice=Actor(alice.id, m.UserRole.CUSTOMER),
            bob=Actor(bob.id, m.UserRole.CUSTOMER),
            support=Actor(staff.id, m.UserRole.SUPPORT),
            alice_order=a_order.id,
            bob_order=b_order.id,
            bob_ticket=ticket.id,
        )
    try:
        yield built
    finally:
        built.app.dispose()
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def _ids(conn: sa.Connection, sql: str) -> set[str]:
    return set(conn.execute(sa.text(sql)).scalars())


def test_the_app_role_does_not_own_the_tables(world: World) -> None:
    with world.app.connect() as conn:
        owners = set(
            conn.execute(
                sa.text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
        )
        me = conn.execute(sa.text("SELECT current_user")).scalar_one()
        rls = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = "
                    "current_schema()::regnamespace AND relkind = 'r'"
                )
            ).all()
        )
    assert me not in owners
    assert me.startswith("pk_app_")
    assert all(rls[table] for table in RLS_TABLES)


def test_no_actor_sees_nothing(world: World) -> None:
    with world.app.begin() as conn:
        for table in RLS_TABLES:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table


def test_a_customer_reads_only_their_own_rows(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.alice)
        assert _ids(conn, "SELECT id FROM orders") == {world.alice_order}
        assert _ids(conn, "SELECT order_id FROM order_items") == {world.alice_order}
        assert _ids(conn, f"SELECT id FROM orders WHERE id = '{world.bob_order}'") == set()
        assert _ids(conn, "SELECT id FROM support_tickets") == set()
        assert conn.execute(sa.text("SELECT count(*) FROM ticket_messages")).scalar_one() == 0


def test_a_customer_cannot_change_another_customers_orders(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.alice)
        hit = conn.execute(
            sa.text("UPDATE orders SET notes = 'pwned' WHERE id = :id"), {"id": world.bob_order}
        )
        assert hit.rowcount == 0
        assert conn.execute(sa.text("UPDATE orders SET notes = 'mine'")).rowcount == 1
        assert (
            conn.execute(
                sa.text("DELETE FROM order_items WHERE order_id = :id"), {"id": world.bob_order}
            ).rowcount
            == 0
        )
        conn.rollback()
    # Handing one's own order to someone else, or writing into theirs, fails the WITH CHECK.
    give_away = sa.text("UPDATE orders SET user_id = :bob WHERE id = :id")
    insert_theirs = sa.text(
        "INSERT INTO orders (id, user_id, order_number, subtotal, total_amount,"
        " billing_address) VALUES ('evil', :bob, 'EVIL-1', 1, 1, '{}')"
    )
    for statement in (give_away, insert_theirs):
        with world.app.begin() as conn:
            set_actor(conn, world.alice)
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                conn.execute(statement, {"bob": world.bob.user_id, "id": world.alice_order})
    with world.owner.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT notes FROM orders WHERE id = :id"), {"id": world.bob_order}
            ).scalar_one()
            is None
        )


def test_customers_never_see_internal_messages(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.bob)
        assert list(conn.execute(sa.text("SELECT content FROM ticket_messages")).scalars()) == [
            "hello"
        ]
    with world.app.begin() as conn:
        set_actor(conn, world.support)
        assert set(conn.execute(sa.text("SELECT content FROM ticket_messages")).scalars()) == {
            "hello",
            "hush",
        }


def test_staff_and_system_see_everything(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.support)
        assert _ids(conn, "SELECT id FROM orders") == {world.alice_order, world.bob_order}
    with world.app.begin() as conn:
        set_system(conn)
        assert _ids(conn, "SELECT id FROM orders") == {world.alice_order, world.bob_order}


def test_the_actor_ends_with_the_transaction(world: World) -> None:
    with world.app.connect() as conn:
        with conn.begin():
            set_actor(conn, world.alice)
            assert _ids(conn, "SELECT id FROM orders") == {world.alice_order}
        with conn.begin():  # same pooled connection, new transaction: nobody again
            assert _ids(conn, "SELECT id FROM orders") == set()


def test_paykit_auth_flows_work_under_rls(world: World) -> None:
    with Session(world.app) as session:
        user = svc.register_user(
            session,
            {"email": "carol@example.com", "password": "carol-pass", "name": "Carol"},
            hasher=FAST,
            clock=CLOCK,
        )
        result = svc.login(
            session, email="carol@example.com", password="carol-pass", hasher=FAST, clock=CLOCK
        )
        assert svc.validate_session(session, result.token, clock=CLOCK).user_id == user.id
        # The auth steps restore "no actor" afterwards: RLS still fails closed.
        assert session.scalar(sa.select(sa.func.count()).select_from(m.Session)) == 0
        set_actor(session, Actor.of(user))
        assert session.scalar(sa.select(sa.func.count()).select_from(m.Session)) == 1
        session.rollback()


def test_disable_turns_it_off(world: World) -> None:
    disable_row_level_security(world.owner)
    try:
        with world.app.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 2
    finally:
        enable_row_level_security(world.owner)
