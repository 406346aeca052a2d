"""The ``paykit`` console script, run as a real subprocess against each backend."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.db import create_engine
from paykit.security import verify_password


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paykit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _engine(subprocess_env: dict[str, str]) -> sa.Engine:
    options = subprocess_env.get("PGOPTIONS")
    kwargs = {"connect_args": {"options": options}} if options else {}
    return create_engine(subprocess_env["PAYKIT_DATABASE_URL"], **kwargs)


def test_migrate_then_seed_twice_creates_nothing_new(subprocess_env: dict[str, str]) -> None:
    env = dict(subprocess_env, PAYKIT_ADMIN_PASSWORD="correct horse battery staple")
    first = run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert f"revision {paykit.head_revision()}" in first.stdout
    seeded = run("seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "created: user:admin@example.com" in seeded.stdout
    assert "correct horse" not in seeded.stdout  # a given password is never echoed
    again = run("seed", env=env)
    assert again.returncode == 0, again.stderr
    assert "nothing created" in again.stdout

    engine = _engine(subprocess_env)
    with Session(engine) as session:
        counts = {
            model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (m.User, m.ProductCategory, m.Product, m.Price)
        }
        assert counts == {"User": 1, "ProductCategory": 1, "Product": 1, "Price": 1}
        admin = session.scalar(sa.select(m.User))
        assert admin.role is m.UserRole.ADMIN
        assert admin.email_verified is True
        assert verify_password("correct horse battery staple", admin.password)
        assert "$2b$12$" in admin.password  # bcrypt, cost 12
        product = session.scalar(sa.select(m.Product))
        assert (product.name, product.type, product.status, product.base_price) == (
            "Premium Subscription",
            m.ProductType.SUBSCRIPTION,
            m.ProductStatus.PUBLISHED,
            Decimal("29.99"),
        )
        assert (product.billing_interval, product.trial_days) == ("month", 14)
        assert [c.slug for c in product.categories] == ["digital-products"]
    engine.dispose()


def test_seed_generates_and_prints_the_password_once(subprocess_env: dict[str, str]) -> None:
    env = {k: v for k, v in subprocess_env.items() if k != "PAYKIT_ADMIN_PASSWORD"}
    first = run("seed", env=env)
    assert first.returncode == 0, first.stderr
    line = next(li for li in first.stdout.splitlines() if "admin password" in li)
    password = line.rsplit(": ", 1)[1]
    assert len(password) >= 20
    second = run("seed", env=env)
    assert "admin password" not in second.stdout
    engine = _engine(subprocess_env)
    with Session(engine) as session:
        assert verify_password(password, session.scalar(sa.select(m.User.password)))
    engine.dispose()


def test_demo_prints_the_seeded_tables_and_the_checkout(subprocess_env: dict[str, str]) -> None:
    result = run("demo", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    for text in (
        "Users (1)",
        "admin@example.com",
        "Categories (1)",
        "digital-products",
        "Products (1)",
        "Premium Subscription",
        "29.99 USD",
        # The checkout story: 2 x 24.00, 15% off, 8% tax on the rest, a 10.00 refund.
        "subtotal 48.00, discount -7.20, tax 3.26, total 44.06 USD",
        "order COMPLETED, payment SUCCEEDED",
        "Stock left: 8.",
        "refunds 10.00 USD: refund SUCCEEDED; refunded so far 10.00 of 44.06",
    ):
        assert text in result.stdout
    again = run("demo", env=subprocess_env)  # the story can be told twice on one database
    assert again.returncode == 0, again.stderr


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in m.Base.metadata.sorted_tables
        }


def test_demo_twice_leaves_the_database_as_seeded(tmp_path: Path) -> None:
    """Both runs on one SQLite file: the story is rolled back, so no table grows."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = dict(os.environ, PAYKIT_DATABASE_URL=url)
    first = run("demo", env=env)
    assert first.returncode == 0, first.stderr
    engine = create_engine(url)
    try:
        after_first = _row_counts(engine)
        second = run("demo", env=env)
        assert second.returncode == 0, second.stderr
        assert _row_counts(engine) == after_first
    finally:
        engine.dispose()
    assert after_first["users"] == 1  # the admin only: the story's customer was rolled back
    assert after_first["orders"] == 0
    assert "Users (1)" in second.stdout
    assert "Prices (1)" in second.stdout


def test_demo_labels_a_prices_stripe_id_as_such(subprocess_env: dict[str, str]) -> None:
    result = run("demo", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    engine = _engine(subprocess_env)
    try:
        with Session(engine) as session:
            price = session.scalars(sa.select(m.Price)).one()
            price_id, stripe_id = price.id, price.stripe_price_id
    finally:
        engine.dispose()
    table = result.stdout[result.stdout.index("Prices (1)") :]
    header = next(line for line in table.splitlines() if line.startswith("| id"))
    row = next(line for line in table.splitlines() if price_id in line)
    assert [c.strip() for c in header.strip("|").split("|")][:2] == ["id", "stripe price id"]
    assert [c.strip() for c in row.strip("|").split("|")][:2] == [price_id, stripe_id]


@pytest.mark.parametrize("command", ["seed", "demo"])
def test_help_of_seed_and_demo_names_the_admin_password_variable(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "$PAYKIT_ADMIN_PASSWORD" in text
    assert "admin@example.com" in text


def test_database_url_flag_wins_over_environment(tmp_path: Path) -> None:
    path = tmp_path / "flag.db"
    env = dict(os.environ, PAYKIT_DATABASE_URL="postgresql://nobody@127.0.0.1:1/unused")
    result = run("--database-url", f"sqlite:///{path}", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert path.exists()


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_unreachable_database_is_one_line() -> None:
    line = _one_clear_line(run("--database-url", "postgresql://nobody@127.0.0.1:1/x", "migrate"))
    assert line.startswith("paykit: error: cannot connect to")


def test_malformed_url_is_one_line() -> None:
    line = _one_clear_line(run("--database-url", "not a url::", "migrate"))
    assert "malformed database URL" in line


def test_unknown_command_is_one_line() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in _one_clear_line(result)


def test_missing_command_is_one_line() -> None:
    assert "required" in _one_clear_line(run())


def test_seed_refuses_a_password_the_policy_refuses(subprocess_env: dict[str, str]) -> None:
    env = dict(subprocess_env, PAYKIT_ADMIN_PASSWORD="abc")
    line = _one_clear_line(run("seed", env=env))
    assert line == (
        "paykit: error: PAYKIT_ADMIN_PASSWORD is refused: password must be 8 to 1024 characters"
    )
    engine = _engine(subprocess_env)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            admins = (
                conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
                if "users" in tables
                else 0
            )
    finally:
        engine.dispose()
    assert admins == 0


def test_reconcile_and_release_expired_against_a_stripe_server(
    subprocess_env: dict[str, str],
) -> None:
    from datetime import UTC, datetime, timedelta

    import stripe
    from tests import factories as f
    from tests.stripe_server import serve

    from paykit.clock import FrozenClock
    from paykit.gateways.stripe import StripeGateway

    stripe.enable_telemetry = False
    assert run("migrate", env=subprocess_env).returncode == 0
    # Everything happened an hour ago, as the CLI's system clock sees it.
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    servers = serve(clock)
    server = next(servers)
    try:
        gateway = StripeGateway(api_key="sk_test_cli", api_base=server.url, max_network_retries=0)
        engine = _engine(subprocess_env)
        address = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
        with Session(engine, expire_on_commit=False) as s, s.begin():
            product = f.product(s, base_price=Decimal("12.00"))
            price_id = f.price(s, product).id
            customer_id = f.user(s).id

            def order() -> m.Order:
                return paykit.place_order(
                    s,
                    customer_id=customer_id,
                    items=[{"price_id": price_id}],
                    billing_address=address,
                    gateway=gateway,
                    clock=clock,
                ).order

            paid_in_browser, abandoned = order(), order()
        with Session(engine) as s:
            s.begin()
            orphan = paykit.place_order(
                s,
                customer_id=customer_id,
                items=[{"price_id": price_id}],
                billing_address=address,
                gateway=gateway,
                clock=clock,
            ).order.stripe_payment_intent_id
            s.rollback()
        server.fake.confirm_payment(
            paid_in_browser.stripe_payment_intent_id,
            payment_method_id="pm_card_visa",
            idempotency_key="browser",
        )
        env = dict(
            subprocess_env, PAYKIT_STRIPE_API_KEY="sk_test_cli", PAYKIT_STRIPE_API_BASE=server.url
        )
        preview = run("reconcile", "--dry-run", env=env)
        assert preview.returncode == 0, preview.stderr
        assert f"would be: payment without an order, cancelled: {orphan}" in preview.stdout
        done = run("reconcile", env=env)
        assert done.returncode == 0, done.stderr
        assert f"order paid at the gateway, completed: {paid_in_browser.id}" in done.stdout
        assert f"payment without an order, cancelled: {orphan}" in done.stdout
        again = run("reconcile", env=env)
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout
        released = run("release-expired", "--hold-minutes", "30", env=env)
        assert released.returncode == 0, released.stderr
        assert f"{abandoned.order_number}: CANCELLED" in released.stdout
        with Session(engine) as s:
            assert s.get(m.Order, paid_in_browser.id).status is m.OrderStatus.COMPLETED
            assert s.get(m.Order, abandoned.id).status is m.OrderStatus.CANCELLED
        assert server.fake.payments[orphan].status == "canceled"
        engine.dispose()
        no_key = {k: v for k, v in env.items() if "STRIPE" not in k}
        refused = run("reconcile", env=no_key)
        assert refused.returncode == 1
        assert refused.stderr.strip().count("\n") == 0
        assert "PAYKIT_STRIPE_API_KEY" in refused.stderr
    finally:
        servers.close()


def test_subscriptions_run_ends_trials_and_grace_periods_once(
    subprocess_env: dict[str, str],
) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    import stripe
    from tests import factories as f
    from tests.stripe_server import serve

    from paykit.clock import FrozenClock
    from paykit.gateways.stripe import StripeGateway

    stripe.enable_telemetry = False
    assert run("migrate", env=subprocess_env).returncode == 0
    # Everything was set up 20 days ago, as the CLI's system clock sees it.
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=20))
    servers = serve(clock)
    server = next(servers)
    try:
        gateway = StripeGateway(api_key="sk_test_cli", api_base=server.url, max_network_retries=0)
        engine = _engine(subprocess_env)
        stripe_price = server.fake.add_price(unit_amount=1000, currency="usd", price_id="price_cli")
        with Session(engine, expire_on_commit=False) as s, s.begin():
            product = f.product(s, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("10.00"))
            price = f.price(
                s,
                product,
                stripe_price_id=stripe_price,
                unit_amount=Decimal("10.00"),
                type=m.PriceType.RECURRING,
                recurring={"interval": "month", "interval_count": 1},
            )

            def subscriber(**kw: object) -> m.Subscription:
                user = f.user(s)
                customer = paykit.ensure_gateway_customer(s, user, gateway, clock=clock)
                if kw.pop("card", False):
                    gateway.attach_payment_method(
                        "pm_card_visa", customer_id=customer, idempotency_key=f"pm-{user.id}"
                    )
                return paykit.subscribe(
                    s, user_id=user.id, price_id=price.id, gateway=gateway, clock=clock, **kw
                )

            trial_over = subscriber(trial_days=14)  # no card: cancelled when it ends
            ending_soon = subscriber(trial_days=22)  # ends in two days
            unpaid = subscriber(card=True)
            paykit.record_payment_failure(s, subscription_id=unpaid.id, clock=clock)
            healthy = subscriber(card=True)
        clock.advance(timedelta(days=20))
        env = dict(
            subprocess_env, PAYKIT_STRIPE_API_KEY="sk_test_cli", PAYKIT_STRIPE_API_BASE=server.url
        )
        notices = run("subscriptions", "notices", "--json", env=env)
        assert notices.returncode == 0, notices.stderr
        soon = [json.loads(line) for line in notices.stdout.splitlines()]
        assert [(n["kind"], n["subscription_id"]) for n in soon] == [
            ("trial_will_end", ending_soon.id)
        ]
        done = run("subscriptions", "run", "--json", env=env)
        assert done.returncode == 0, done.stderr
        *lines, summary = [json.loads(line) for line in done.stdout.splitlines()]
        assert summary == {
            "summary": {"changes_applied": 0, "trials_ended": 1, "grace_periods_ended": 1}
        }
        assert sorted((n["kind"], n["subscription_id"]) for n in lines) == sorted(
            [("trial_ended", trial_over.id), ("grace_period_ended", unpaid.id)]
        )
        assert all(n["key"] for n in lines)
        with Session(engine) as s:
            status = {row.id: row.status for row in s.scalars(sa.select(m.Subscription))}
        assert status[trial_over.id] is m.SubscriptionStatus.CANCELLED
        assert status[unpaid.id] is m.SubscriptionStatus.CANCELLED
        assert status[ending_soon.id] is m.SubscriptionStatus.TRIALING
        assert status[healthy.id] is m.SubscriptionStatus.ACTIVE
        again = run("subscriptions", "run", env=env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == "changes applied 0, trials ended 0, grace periods ended 0"
        engine.dispose()
        no_key = {k: v for k, v in env.items() if "STRIPE" not in k}
        refused = run("subscriptions", "run", env=no_key)
        assert refused.returncode == 1
        assert "PAYKIT_STRIPE_API_KEY" in refused.stderr
    finally:
        servers.close()
