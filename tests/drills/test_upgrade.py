"""Upgrade test: every release's databases upgrade to the current code.

For each release in ``releases.toml``: build its wheel from its commit
(``git archive``, the tag only as a fallback), install it into a scratch
virtualenv, and have that virtualenv's python (``fill_with_release.py``)
migrate and fill a SQLite file and a PostgreSQL database with the old code.
Then, with the current code: ``paykit.migrate`` to head, ``paykit check``
passes, and the public API works on the old rows: an old order is read and
listed, an old paid order is refunded, an old pending one is paid, and a
new order is placed with the old catalogue and discount. The old release
also made an active subscription with a paid invoice: both rows are there
unchanged (every row, key fields compared), the customer reads them
(``user_subscriptions``, ``list_invoices``, ``get_invoice``), and the current
code cancels the subscription at the gateway that made it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session
from tests.drills.shop import assert_check_passes

import paykit
from paykit import models as m
from paykit.gateways import FakeGateway
from paykit.gateways.base import GatewayCustomer, GatewayPayment, GatewayRefund
from paykit.security import Actor
from paykit.testing.fake.ledger import _Subscription

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
RELEASES: list[dict[str, str]] = tomllib.loads((HERE / "releases.toml").read_text())["release"]
ADDRESS = {"line1": "2 New Street", "city": "Springfield", "country": "US"}


def _git(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], stdout=stdout, stderr=subprocess.PIPE, check=False
    )


def resolve(release: dict[str, str]) -> str:
    """The release's commit, or its tag's if the commit is not in this clone."""
    commit = release["commit"]
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0:
        return commit
    tagged = _git("rev-parse", "--verify", f"refs/tags/{release['tag']}^{{commit}}")
    if tagged.returncode == 0:
        found = tagged.stdout.decode().strip()
        assert found == commit, f"tag {release['tag']} is {found}, releases.toml says {commit}"
        return found
    pytest.fail(
        f"release {release['version']}: neither commit {commit} nor tag {release['tag']} is in "
        f"this clone; fetch them (git fetch --tags, or git fetch origin {commit})",
        pytrace=False,
    )


@dataclass
class Installed:
    """An old release installed in a scratch virtualenv."""

    version: str
    head_revision: str
    python: Path


def _run(*command: str | Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(map(str, command)), capture_output=True, text=True, check=False, **kw
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module", params=RELEASES, ids=[r["version"] for r in RELEASES])
def release(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The release's wheel, built from its commit and installed into a fresh virtualenv."""
    info: dict[str, str] = request.param
    work = tmp_path_factory.mktemp(f"release-{info['version']}")
    archive = _git("archive", "--format=tar", resolve(info))
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(work / "src", filter="data")
    # Without build isolation when hatchling is here (nox -s drills installs it): no index needed.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        *isolation,
        "-w",
        work / "wheels",
        work / "src",
    )
    (wheel,) = (work / "wheels").glob("paykit-*.whl")
    assert wheel.name.startswith(f"paykit-{info['version']}-"), wheel.name
    _run(sys.executable, "-m", "venv", work / "venv")
    python = work / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", f"{wheel}[binary]")
    return Installed(info["version"], info["head_revision"], python)


class CarriedOver(FakeGateway):
    """A FakeGateway holding the customers, payments, refunds and subscriptions the old
    release's gateway made, so the current code can refund what the old code charged
    and cancel what it subscribed."""

    def adopt(
        self,
        payments: list[dict[str, Any]],
        refunds: list[dict[str, Any]],
        customers: list[dict[str, Any]],
    ) -> None:
        with self._lock:
            for c in customers:
                self._customers[c["id"]] = GatewayCustomer(**c)
            for p in payments:
                self._payments[p["id"]] = GatewayPayment(**p)
            for r in refunds:
                self._refunds[r["id"]] = GatewayRefund(**r)

    def adopt_subscriptions(self, raws: list[dict[str, Any]]) -> None:
        """Take over Stripe-shaped subscriptions (active, not in a trial) as they were."""
        with self._lock:
            for raw in raws:
                recurring = raw["items"]["data"][0]["price"]["recurring"]
                sub = _Subscription(
                    raw=raw,
                    anchor=datetime.fromtimestamp(raw["billing_cycle_anchor"], tz=UTC),
                    interval=recurring["interval"],
                    interval_count=recurring["interval_count"],
                    period_index=0,
                )
                self._set_period(sub)
                self._subscriptions[raw["id"]] = sub


def subscription_rows(session: Session, like: dict[str, Any]) -> dict[str, Any]:
    """Every subscription and invoice row, with the fields ``like`` (the fill's) has."""
    found: dict[str, Any] = {}
    for table, model in (("subscriptions", m.Subscription), ("invoices", m.Invoice)):
        names = list(next(iter(like[table].values())))
        found[table] = {
            row.id: {name: str(getattr(row, name)) for name in names}
            for row in session.scalars(sa.select(model).execution_options(populate_existing=True))
        }
    return found


def check_old_subscription(engine: Any, made: dict[str, Any]) -> None:
    """The old subscription and invoice survived, read back, and cancel with the current code."""
    old = made["subscription"]
    customer = Actor(made["customer_id"], m.UserRole.CUSTOMER)
    # Within the old subscription's first period, a day after the old clock stopped.
    clock = paykit.FrozenClock(datetime.fromtimestamp(old["clock"], tz=UTC) + timedelta(days=1))
    gateway = CarriedOver(clock=clock)
    gateway.adopt([], [], made["customers"])
    gateway.adopt_subscriptions(made["gateway_subscriptions"])
    with Session(engine) as session:
        assert subscription_rows(session, made["rows"]) == made["rows"]
        live = paykit.user_subscriptions(session, actor=customer, user_id=made["customer_id"])
        assert [(s.id, s.status) for s in live.subscriptions] == [(old["id"], "ACTIVE")]
        assert live.subscriptions[0].unit_amount == Decimal("15.00")
        invoices = paykit.list_invoices(session, user_id=made["customer_id"], actor=customer)
        assert [i.id for i in invoices] == [old["invoice_id"]]
        view = paykit.get_invoice(session, invoice_id=old["invoice_id"], actor=customer)
        assert (view.invoice.status, view.invoice.amount_paid) == (
            m.InvoiceStatus.PAID,
            Decimal("15.00"),
        )
        cancelled = paykit.cancel_subscription(
            session,
            subscription_id=old["id"],
            gateway=gateway,
            at_period_end=False,
            actor=customer,
            clock=clock,
        )
        session.commit()
        assert cancelled.status is m.SubscriptionStatus.CANCELLED
        assert cancelled.canceled_at == clock.now()
        (at_gateway,) = gateway.subscriptions.values()
        assert at_gateway.status == "canceled"
        after = subscription_rows(session, made["rows"])
        assert after["invoices"] == made["rows"]["invoices"]
        assert after["subscriptions"][old["id"]]["status"] == "CANCELLED"


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(
    request: pytest.FixtureRequest, tmp_path: Path, scratch_database: Callable[[], URL]
) -> Iterator[str]:
    """An empty database on each backend, as a URL the old release's python can use."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield scratch_database().render_as_string(hide_password=False)


def test_a_release_database_upgrades_and_works(
    release: Installed, old_database: str, tmp_path: Path
) -> None:
    out = tmp_path / "made.json"
    _run(release.python, HERE / "fill_with_release.py", old_database, out, cwd=tmp_path)
    made = json.loads(out.read_text())
    assert made["version"] == release.version
    assert made["paykit_file"].startswith(str(release.python.parent.parent))  # not this checkout
    assert made["revision"] == release.head_revision
    assert made["statuses"]["paid"] == ["COMPLETED", "SUCCEEDED"]
    rows = made["rows"]  # written by the old code: one subscription, its one paid invoice
    assert [r["status"] for r in rows["subscriptions"].values()] == ["ACTIVE"]
    assert [r["status"] for r in rows["invoices"].values()] == ["PAID"]

    engine = paykit.create_engine(old_database)
    try:
        paykit.migrate(engine)
        assert paykit.current_revision(engine) == paykit.head_revision()
        assert_check_passes(engine)

        clock = paykit.FrozenClock(paykit.SystemClock().now())
        gateway = CarriedOver(clock=clock)
        gateway.adopt(made["payments"], made["refunds"], made["customers"])
        orders = made["orders"]
        customer = Actor(made["customer_id"], m.UserRole.CUSTOMER)
        with Session(engine) as session:
            old = paykit.get_order(session, actor=customer, order_id=orders["partly_refunded"])
            assert old.payment.refunded_amount == Decimal("5.00")
            assert [r.amount for r in old.refunds] == [Decimal("5.00")]
            listed = paykit.list_orders(session, actor=customer, limit=100)
            assert {o.id for o in listed.items} == set(orders.values())
            full = paykit.issue_refund(
                session,
                order_id=orders["paid"],
                reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
                gateway=gateway,
                actor_id=made["support_id"],
                clock=clock,
            )
            rest = paykit.issue_refund(
                session,
                order_id=orders["partly_refunded"],
                reason=m.RefundReason.DUPLICATE,
                gateway=gateway,
                actor_id=made["support_id"],
                clock=clock,
            )
            session.commit()
            assert full.status is m.RefundStatus.SUCCEEDED
            assert rest.amount == old.total_amount - Decimal("5.00")
            paid = paykit.pay_order(
                session,
                order_id=orders["pending"],
                gateway=gateway,
                payment_method_id="pm_card_visa",
                clock=clock,
            )
            session.commit()
            assert paid.order.status is m.OrderStatus.COMPLETED
            new = paykit.place_order(
                session,
                customer_id=made["customer_id"],
                items=[{"price_id": made["price_id"], "quantity": 1}],
                billing_address=ADDRESS,
                discount_code="old10",  # codes match regardless of case since 0006
                gateway=gateway,
                clock=clock,
            )
            session.commit()
            assert new.order.discount_amount > 0
            for name in ("paid", "partly_refunded"):
                row = session.get(m.Order, orders[name])
                assert row is not None
                assert (row.status, row.payment_status) == (
                    m.OrderStatus.REFUNDED,
                    m.PaymentStatus.REFUNDED,
                )
        check_old_subscription(engine, made)
        assert_check_passes(engine)
    finally:
        engine.dispose()
