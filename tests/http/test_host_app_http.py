"""Issue 15's "Done when": a scratch host app with its own ``users``/``orders``/``products``
tables and Alembic history, paykit in a schema of its own beside them (an attached
file on SQLite), and a checkout, a refund and a webhook through the FastAPI and the
Flask adapter over real HTTP, on SQLite and PostgreSQL. The host's rows are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import pg_url
from tests.host_app import ADDRESS, WEBHOOK_SECRET, HostApp, build_host_app
from tests.http.conftest import SERVERS, Client, session_token

from paykit import models as m
from paykit.testing import signed_webhook


@pytest.fixture
def host(backend: str, tmp_path: Path) -> Iterator[HostApp]:
    app = build_host_app(backend, tmp_path, pg_url=pg_url())
    try:
        yield app
    finally:
        app.close()


def test_checkout_refund_and_webhook_beside_the_hosts_tables(host: HostApp, framework: str) -> None:
    host.migrate_host()
    host.migrate_paykit()
    before = host.host_rows()
    shop = host.seed_shop()
    with host.session() as session:
        tokens = {
            "customer": session_token(session, shop.customer_id, host.clock.now()),
            "support": session_token(session, shop.support_id, host.clock.now()),
        }
    build, serve = SERVERS[framework]
    app = build(host.paykit_engine, host.gateway, host.clock, WEBHOOK_SECRET)
    cart = {"items": [{"price_id": shop.price_id, "quantity": 1}], "billing_address": ADDRESS}
    with serve(app) as base:
        client = Client(base + "/paykit", tokens)
        paid = client.call(
            "POST",
            "/checkout",
            {**cart, "payment_method_id": "pm_card_visa"},
            who="customer",
            headers={"Idempotency-Key": "host-1"},
        )
        assert (paid.status, paid.body["status"], paid.body["total_amount"]) == (
            201,
            "COMPLETED",
            "44.00",
        ), paid.body
        refund = client.call(
            "POST", f"/orders/{paid.body['id']}/refunds", {"amount": "4.00"}, who="support"
        )
        assert (refund.status, refund.body["status"]) == (201, "SUCCEEDED"), refund.body

        pending = client.call("POST", "/checkout", cart, who="customer")
        assert pending.body["status"] == "PENDING", pending.body
        host.gateway.drain_events()
        host.gateway.confirm_payment(
            pending.body["payment"]["payment_intent_id"],
            payment_method_id="pm_card_visa",
            idempotency_key="host-wh",
        )
        [event] = [
            e for e in host.gateway.drain_events() if e["type"] == "payment_intent.succeeded"
        ]
        body, header = signed_webhook(event, WEBHOOK_SECRET, host.clock.now())
        hook = client.call(
            "POST", "/webhooks/stripe", raw=body, headers={"Stripe-Signature": header}
        )
        assert hook.status == 200, hook.body
        after = client.call("GET", f"/orders/{pending.body['id']}", who="customer")
        assert after.body["status"] == "COMPLETED"

    with host.session() as session:
        order = session.get(m.Order, paid.body["id"])
        assert order is not None
        assert str(order.refunded_amount) == "4.00"
    assert host.host_rows() == before  # the host's users, orders, products: untouched
    assert host.host_revision() == "h0002"
