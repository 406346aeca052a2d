"""Row-level security on PostgreSQL, seen from a real application role that owns nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory, pg_url, require_postgres

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.errors import IdempotencyConflict
from paykit.models.users import UserToken
from paykit.security import Actor, PasswordHasher
from paykit.security.rls import (
    RLS_EXEMPT,
    RLS_TABLES,
    disable_row_level_security,
    enable_row_level_security,
    set_actor,
    set_system,
)
from paykit.services import _idempotency
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


#: Rows of Bob's that Alice must neither see nor change (table -> its key column).
BOBS = {
    "users": "email",
    "refunds": "stripe_refund_id",
    "paykit_webhook_events": "event_id",
    "paykit_idempotency_keys": "key",
    "paykit_user_tokens": "token_hash",
    "payment_methods": "stripe_payment_method_id",
    "audit_logs": "action",
    "paykit_login_attempts": "subject",
    "sessions": "token",
    "subscriptions": "stripe_subscription_id",
    "invoices": "stripe_invoice_id",
    "invoice_lines": "stripe_line_id",
}


def _bobs_other_rows(session: Session, bob: m.User, order: m.Order, product: m.Product) -> None:
    now = CLOCK.now()
    session.add_all(
        [
            m.Refund(
                order_id=order.id,
                stripe_refund_id="re_bob",
                amount=Decimal("1.00"),
                reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
                status=m.RefundStatus.SUCCEEDED,
            ),
            m.WebhookEvent(
                event_id="evt_bob",
                type="payment_method.attached",
                event_created_at=now,
                payload={"billing_details": {"name": "Bob", "email": "bob@example.com"}},
            ),
            m.IdempotencyKey(scope="place_order", key="bob-key", user_id=bob.id, request_hash="h"),
            UserToken(
                user_id=bob.id, purpose="password_reset", token_hash="bob-tok", expires_at=now
            ),
            m.PaymentMethod(user_id=bob.id, stripe_payment_method_id="pm_bob", type="card"),
            m.AuditLog(user_id=bob.id, action="bob.did", resource="users", resource_id=bob.id),
            m.LoginAttempt(scope="email", subject="bob-hash", attempts=1, window_started_at=now),
            m.Session(user_id=bob.id, token="bob-session", expires_at=now),
            m.ProductReview(product_id=product.id, user_id=bob.id, rating=5, content="Great"),
        ]
    )
    session.flush()
    _bobs_invoice(session, bob, product)


def _bobs_invoice(session: Session, bob: m.User, product: m.Product) -> None:
    """Bob's subscription, one invoice and its line (invoice_lines' RLS goes through both)."""
    now = CLOCK.now()
    price = session.scalars(sa.select(m.Price).where(m.Price.product_id == product.id)).first()
    assert price is not None
    sub = m.Subscription(
        user_id=bob.id,
        product_id=product.id,
        price_id=price.id,
        stripe_subscription_id="sub_bob",
        status=m.SubscriptionStatus.ACTIVE,
        current_period_start=now,
        current_period_end=now,
        unit_amount=Decimal("10.00"),
    )
    session.add(sub)
    session.flush()
    invoice = m.Invoice(
        subscription_id=sub.id,
        stripe_invoice_id="in_bob",
        number="BOB-1",
        status=m.InvoiceStatus.OPEN,
        subtotal=Decimal("10.00"),
        total=Decimal("10.00"),
        amount_due=Decimal("10.00"),
        period_start=now,
        period_end=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        m.InvoiceLine(invoice_id=invoice.id, stripe_line_id="il_bob", amount=Decimal("10.00"))
    )
    session.flush()


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
        _bobs_other_rows(session, bob, b_order, product)
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


@pytest.fixture
def pg_databases(_factories: dict[str, DatabaseFactory]) -> DatabaseFactory:
    require_postgres()
    return _factories["postgresql"]


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
            if table == "product_reviews":
                continue  # public: see test_published_reviews_are_public_but_only_authors_write
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


# --- every customer table, every command --------------------------------------------


def test_every_table_is_under_rls_or_exempt_with_a_reason() -> None:
    tables = set(m.Base.metadata.tables)
    assert set(RLS_TABLES) | set(RLS_EXEMPT) == tables
    assert not set(RLS_TABLES) & set(RLS_EXEMPT)
    assert all(len(reason) > 10 for reason in RLS_EXEMPT.values())


def _docs_rls_table() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    section = text.split("<!-- rls-table -->")[1].split("<!-- /rls-table -->")[0]
    rows: dict[str, str] = {}
    for line in section.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for table in cells[0].replace("`", "").split(","):
            rows[table.strip()] = cells[1]
    return rows


def test_docs_carry_the_same_rls_table() -> None:
    documented = _docs_rls_table()
    assert set(documented) == set(m.Base.metadata.tables)
    for table in RLS_TABLES:
        assert documented[table].startswith("RLS"), table
    for table, reason in RLS_EXEMPT.items():
        assert documented[table] == f"exempt: {reason}", table


def test_every_customer_table_has_a_policy_per_command(world: World) -> None:
    with world.owner.connect() as conn:
        policies = set(
            conn.execute(
                sa.text(
                    "SELECT tablename, cmd FROM pg_policies WHERE schemaname = current_schema()"
                )
            ).all()
        )
        secured = dict(
            conn.execute(
                sa.text(
                    "SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = "
                    "current_schema()::regnamespace AND relkind = 'r'"
                )
            ).all()
        )
    commands = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert policies == {(table, cmd) for table in RLS_TABLES for cmd in commands}
    assert {t for t, on in secured.items() if on} == set(RLS_TABLES)


@pytest.mark.parametrize("table", sorted(BOBS))
def test_a_customer_neither_reads_nor_changes_another_customers_rows(
    world: World, table: str
) -> None:
    column = BOBS[table]
    with world.owner.connect() as conn:
        before = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert before >= 1
    with world.app.begin() as conn:
        set_actor(conn, world.alice)
        owned_by_alice = {
            "users": f"id = '{world.alice.user_id}'",
            "audit_logs": f"user_id = '{world.alice.user_id}'",
        }.get(table, "false")
        visible = conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({owned_by_alice})")
        ).scalar_one()
        assert visible == 0
        changed = conn.execute(
            sa.text(f"UPDATE {table} SET {column} = {column} WHERE NOT ({owned_by_alice})")
        )
        assert changed.rowcount == 0
        assert (
            conn.execute(sa.text(f"DELETE FROM {table} WHERE NOT ({owned_by_alice})")).rowcount == 0
        )
    with world.app.begin() as conn:
        set_system(conn)
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == before


def test_webhook_payloads_are_for_admins_and_jobs_only(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.support)
        assert conn.execute(sa.text("SELECT count(*) FROM paykit_webhook_events")).scalar() == 0


def test_published_reviews_are_public_but_only_authors_write(world: World) -> None:
    for actor in (None, world.alice, world.support):
        with world.app.begin() as conn:
            set_actor(conn, actor)
            assert _ids(conn, "SELECT content FROM product_reviews") == {"Great"}
    with world.app.begin() as conn:
        set_actor(conn, world.alice)
        edit = sa.text("UPDATE product_reviews SET content = 'Awful'")
        assert conn.execute(edit).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM product_reviews")).rowcount == 0
    with world.app.begin() as conn:
        set_actor(conn, world.support)  # staff moderate (delete), never put words in mouths
        assert conn.execute(edit).rowcount == 0
    with world.app.begin() as conn:
        set_actor(conn, world.bob)
        assert conn.execute(edit).rowcount == 1
        conn.rollback()
    with world.app.begin() as conn:
        set_actor(conn, world.alice)
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(
                sa.text(
                    "INSERT INTO product_reviews (id, product_id, user_id, rating, content,"
                    " verified, helpful, created_at, updated_at) SELECT 'fake', product_id,"
                    " :bob, 1, 'fake', false, 0, now(), now() FROM product_reviews"
                ),
                {"bob": world.bob.user_id},
            )


def test_a_key_held_by_another_customer_is_a_conflict(world: World) -> None:
    with Session(world.app) as session:
        set_actor(session, world.alice)
        with pytest.raises(IdempotencyConflict):
            _idempotency.claim(
                session,
                scope="place_order",
                key="bob-key",
                fingerprint="h",
                now=CLOCK.now(),
                user_id=world.alice.user_id,
            )
        session.rollback()


def test_migrate_reapplies_the_policies_of_the_new_revision(
    pg_databases: DatabaseFactory,
) -> None:
    engine = pg_databases.migrated()
    paykit.downgrade(engine, "0004")
    with engine.begin() as conn:
        # As an older paykit left it: one FOR ALL policy, on the tables it knew.
        conn.exec_driver_sql(
            "CREATE POLICY paykit_actor ON orders FOR ALL USING (true) WITH CHECK (true)"
        )
        conn.exec_driver_sql("ALTER TABLE orders ENABLE ROW LEVEL SECURITY")
        conn.exec_driver_sql("ALTER TABLE orders FORCE ROW LEVEL SECURITY")
    paykit.migrate(engine)
    with engine.connect() as conn:
        policies = set(
            conn.execute(
                sa.text(
                    "SELECT tablename, policyname FROM pg_policies"
                    " WHERE schemaname = current_schema()"
                )
            ).all()
        )
        forced = conn.execute(
            sa.text(
                "SELECT relname FROM pg_class WHERE relforcerowsecurity"
                " AND relnamespace = current_schema()::regnamespace"
            )
        ).scalars()
        assert set(forced) == set(RLS_TABLES)
    assert ("orders", "paykit_actor") not in policies
    assert ("paykit_login_attempts", "paykit_actor_select") in policies
    assert {table for table, _ in policies} == set(RLS_TABLES)


def test_a_customer_places_a_keyed_order_under_rls(world: World) -> None:
    """The customer's own flow works as the application role: the key is theirs."""
    from paykit import place_order
    from paykit.gateways import FakeGateway

    with Session(world.owner) as owner:
        product = m.Product(
            name="Keyed",
            description="A product.",
            slug=f"rls-keyed-{uuid.uuid4().hex[:6]}",
            type=m.ProductType.ONE_TIME,
            status=m.ProductStatus.PUBLISHED,
            base_price=Decimal("5.00"),
        )
        owner.add(product)
        owner.flush()
        price = m.Price(
            product_id=product.id,
            stripe_price_id=f"price_{uuid.uuid4().hex[:8]}",
            unit_amount=Decimal("5.00"),
            type=m.PriceType.ONE_TIME,
        )
        owner.add(price)
        owner.commit()
        price_id = price.id
    gateway = FakeGateway(clock=CLOCK)
    with Session(world.app) as session:
        set_actor(session, world.alice)
        args = {
            "customer_id": world.alice.user_id,
            "items": [{"price_id": price_id, "quantity": 1}],
            "billing_address": {"line1": "1 Main St", "city": "Springfield", "country": "US"},
            "gateway": gateway,
            "clock": CLOCK,
            "idempotency_key": "alice-rls-order",
        }
        first = place_order(session, **args)  # type: ignore[arg-type]
        again = place_order(session, **args)  # type: ignore[arg-type]
        assert again.order.id == first.order.id
        owner_of_key = session.scalar(
            sa.select(m.IdempotencyKey.user_id).where(m.IdempotencyKey.key == "alice-rls-order")
        )
        assert owner_of_key == world.alice.user_id
        session.rollback()


def test_a_customers_own_flows_work_under_rls(world: World) -> None:
    """Tickets, profile, and self-deletion (with its erasure) as the application role."""
    from paykit.security import Keyring, use_keyring
    from paykit.services import support

    with use_keyring(Keyring.generate()), Session(world.app) as session:
        dave = svc.register_user(
            session,
            {"email": "dave@example.com", "password": "dave-pass", "name": "Dave"},
            hasher=FAST,
            clock=CLOCK,
        )
        me = Actor.of(dave)
        set_actor(session, me)
        ticket = support.open_ticket(
            session, actor=me, subject="Where is it?", description="My order", clock=CLOCK
        )
        support.add_ticket_message(
            session, actor=me, ticket_id=ticket.id, content="Any news?", clock=CLOCK
        )
        assert [
            msg.content for msg in support.ticket_messages(session, actor=me, ticket_id=ticket.id)
        ] == ["Any news?"]
        svc.update_profile(session, actor=me, user_id=dave.id, changes={"phone": "+1 555 0100"})
        svc.delete_user(session, actor=me, user_id=dave.id, clock=CLOCK)
        session.flush()
        set_system(session)
        assert session.get(m.User, dave.id).status is m.UserStatus.DELETED  # type: ignore[union-attr]
        session.rollback()


def test_a_customer_reads_their_invoice_lines_and_only_staff_write_them(world: World) -> None:
    with world.app.begin() as conn:
        set_actor(conn, world.bob)
        assert _ids(conn, "SELECT stripe_line_id FROM invoice_lines") == {"il_bob"}
        changed = conn.execute(sa.text("UPDATE invoice_lines SET amount = amount"))
        assert changed.rowcount == 0
    with world.app.begin() as conn:
        set_actor(conn, world.support)
        assert _ids(conn, "SELECT stripe_line_id FROM invoice_lines") == {"il_bob"}
        changed = conn.execute(sa.text("UPDATE invoice_lines SET amount = amount"))
        assert changed.rowcount == 1
