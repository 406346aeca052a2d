"""The FastAPI and Flask adapters over real HTTP, on SQLite and PostgreSQL.

A checkout, a refund and a webhook go through; every attacker request is
answered with the right RFC 9457 problem and writes nothing.
"""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.http.conftest import SECRET, SERVERS, Client, Shop, make_shop

from paykit.contrib import Request
from paykit.models import User
from paykit.notifications import OrderPaid, PaymentFailed, RecordingNotifier, RefundIssued
from paykit.testing import sign_webhook, signed_webhook

PROBLEM = "application/problem+json"
ADDRESS = {"line1": "1 Analytical Way", "city": "London", "country": "GB"}


def _cart(shop: Shop, quantity: int = 2) -> dict[str, object]:
    return {"items": [{"price_id": shop.ids["price"], "quantity": quantity}]}


def _checkout(shop: Shop, client: Client, key: str, **extra: object) -> dict[str, object]:
    body = {**_cart(shop), "billing_address": ADDRESS, **extra}
    answer = client.call("POST", "/checkout", body, who="ada", headers={"Idempotency-Key": key})
    assert answer.status == 201, answer.body
    assert answer.content_type.startswith("application/json")
    return answer.body  # type: ignore[no-any-return]


def test_quote_checkout_orders_and_refund(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    quote = client.call("POST", "/quote", _cart(shop), who="ada")
    assert quote.status == 200, quote.body
    assert quote.body["total_amount"] == "25.00"

    order = _checkout(shop, client, "ck-1", payment_method_id="pm_card_visa")
    assert order["status"] == "COMPLETED"
    assert order["total_amount"] == "25.00"
    assert order["payment"]["status"] == "SUCCEEDED"
    again = _checkout(shop, client, "ck-1", payment_method_id="pm_card_visa")
    assert again["id"] == order["id"]  # the same Idempotency-Key: no second order

    listing = client.call("GET", "/orders?limit=5", who="ada")
    assert listing.status == 200
    assert [o["id"] for o in listing.body["items"]] == [order["id"]]
    assert client.call("GET", f"/orders/{order['id']}", who="ada").body["id"] == order["id"]

    refund = client.call(
        "POST",
        f"/orders/{order['id']}/refunds",
        {"amount": "10.00", "reason": "REQUESTED_BY_CUSTOMER"},
        who="grace",
        headers={"Idempotency-Key": "rf-1"},
    )
    assert refund.status == 201, refund.body
    assert (refund.body["amount"], refund.body["status"]) == ("10.00", "SUCCEEDED")
    assert shop.order(order["id"]).refunded_amount == 10


def test_a_declined_card_leaves_a_payable_order(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    body = {
        **_cart(shop),
        "billing_address": ADDRESS,
        "payment_method_id": "pm_card_chargeDeclined",
    }
    answer = client.call("POST", "/checkout", body, who="ada", headers={"Idempotency-Key": "d-1"})
    assert (answer.status, answer.code) == (402, "payment_declined"), answer.body
    assert answer.content_type == PROBLEM
    order = shop.order(answer.body["order_id"])
    assert order.status.value == "PENDING"  # committed before the charge: retryable


def test_webhook_completes_an_order_once(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    order = _checkout(shop, client, "wh-1")  # no card yet: PENDING
    assert order["status"] == "PENDING"
    shop.gateway.drain_events()
    shop.gateway.confirm_payment(
        order["payment"]["payment_intent_id"], payment_method_id="pm_card_visa", idempotency_key="x"
    )
    [event] = [e for e in shop.gateway.drain_events() if e["type"] == "payment_intent.succeeded"]
    body, header = signed_webhook(event, SECRET, shop.clock.now())
    raw = {"raw": body, "headers": {"Stripe-Signature": header}}
    first = client.call("POST", "/webhooks/stripe", **raw)  # type: ignore[arg-type]
    assert first.status == 200, first.body
    assert shop.order(str(order["id"])).status.value == "COMPLETED"

    before = shop.counts()
    replay = client.call("POST", "/webhooks/stripe", **raw)  # type: ignore[arg-type]
    assert replay.status == 200
    assert shop.counts() == before  # a replayed delivery writes nothing

    forged = sign_webhook(body, "whsec_not_ours", shop.clock.now())
    bad = client.call("POST", "/webhooks/stripe", raw=body, headers={"Stripe-Signature": forged})
    assert (bad.status, bad.code, bad.content_type) == (400, "invalid_signature", PROBLEM)
    unsigned = client.call("POST", "/webhooks/stripe", raw=body)
    assert (unsigned.status, unsigned.code) == (400, "invalid_signature")
    assert shop.counts() == before


def _attacks(shop: Shop, order_id: str) -> list[tuple[str, dict[str, object], int, str]]:
    """(method and path, call options, status, code) of each hostile request."""
    cart = {**_cart(shop), "billing_address": ADDRESS}
    return [
        ("POST /checkout", {"payload": cart}, 401, "authentication_required"),
        ("GET /orders", {}, 401, "authentication_required"),
        (
            "POST /quote",
            {"payload": _cart(shop), "headers": {"Authorization": "Bearer nope"}},
            401,
            "invalid_token",
        ),
        (f"GET /orders/{order_id}", {"who": "bob"}, 404, "not_found"),
        (
            f"POST /orders/{order_id}/refunds",
            {"who": "bob", "payload": {}},
            403,
            "permission_denied",
        ),
        (
            f"POST /orders/{order_id}/refunds",
            {"who": "ada", "payload": {}},
            403,
            "permission_denied",
        ),
        ("POST /checkout", {"who": "bob", "raw": b"{not json"}, 400, "invalid_json"),
        ("POST /checkout", {"who": "bob", "raw": b"[1, 2]"}, 400, "invalid_json"),
        ("POST /checkout", {"who": "bob", "raw": b"\xff\xfe"}, 400, "invalid_json"),
        (
            "POST /checkout",
            {"who": "bob", "payload": {**cart, "items": "all"}},
            422,
            "validation_error",
        ),
        (
            "POST /checkout",
            {
                "who": "bob",
                "payload": {**cart, "items": [{"price_id": shop.ids["price"], "quantity": "2"}]},
            },
            422,
            "validation_error",
        ),
        (
            "POST /checkout",
            {"who": "bob", "payload": {**cart, "customer_id": shop.ids["ada"]}},
            422,
            "validation_error",
        ),
        (
            "POST /checkout",
            {"who": "bob", "payload": {**cart, "notes": "x" * 40_000}},
            413,
            "request_too_large",
        ),
        (
            "POST /checkout",
            {"who": "bob", "raw": b"{" + b" " * 2_000_000 + b"}"},
            413,
            "request_too_large",
        ),
        (
            f"POST /orders/{order_id}/refunds",
            {"who": "grace", "payload": {"amount": 10}},
            422,
            "validation_error",
        ),
        (
            f"POST /orders/{order_id}/refunds",
            {"who": "grace", "payload": {"amount": "999.00"}},
            422,
            "refund_exceeds_paid",
        ),
        (
            "POST /quote",
            {"who": "bob", "payload": {"items": [{"price_id": "nope"}]}},
            404,
            "not_found",
        ),
        (
            "POST /webhooks/stripe",
            {"raw": b"{" + b" " * 2_000_000 + b"}"},
            413,
            "request_too_large",
        ),
        # Over the adapter's 16 KiB, under the webhook's 1 MiB: read, then refused unsigned.
        (
            "POST /webhooks/stripe",
            {"raw": b'{"id": "evt_1", "pad": "' + b"x" * 100_000 + b'"}'},
            400,
            "invalid_signature",
        ),
    ]


def test_attackers_get_problems_and_write_nothing(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    order = _checkout(shop, client, "victim", payment_method_id="pm_card_visa")
    before = shop.counts()
    failures = []
    for where, options, status, code in _attacks(shop, str(order["id"])):
        method, path = where.split(" ", 1)
        answer = client.call(method, path, **options)  # type: ignore[arg-type]
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(f"{where}: {got} {json.dumps(answer.body)[:200]}")
        elif answer.body["status"] != status or not answer.body["type"].endswith(code):
            failures.append(f"{where}: body {answer.body}")
    assert failures == []
    assert shop.counts() == before


def test_a_host_authenticate_hook_and_the_session_cookie(
    fresh_engine: Engine, framework: str
) -> None:
    """The host's own hook names the actor; without a hook, the paykit_session cookie works."""
    shop, tokens = make_shop(fresh_engine)
    build, serve = SERVERS[framework]

    def by_header(session: Session, request: Request) -> User | None:
        user_id = request.header("X-Host-User")
        return None if user_id is None else session.get(User, user_id)

    with serve(build(shop.engine, shop.gateway, shop.clock, authenticate=by_header)) as base:
        client = Client(base + "/paykit", tokens)
        mine = client.call("GET", "/orders", headers={"X-Host-User": shop.ids["bob"]})
        assert (mine.status, mine.body["items"]) == (200, [])
        nobody = client.call("GET", "/orders", who="bob")  # a paykit token means nothing here
        assert (nobody.status, nobody.code) == (401, "authentication_required")
    with serve(build(shop.engine, shop.gateway, shop.clock)) as base:
        client = Client(base + "/paykit", tokens)
        cookie = {"Cookie": f"paykit_session={tokens['bob']}"}
        assert client.call("GET", "/orders", headers=cookie).status == 200


def test_events_reach_the_notifier_after_commit_only(fresh_engine: Engine, framework: str) -> None:
    shop, tokens = make_shop(fresh_engine)
    build, serve = SERVERS[framework]
    notifier = RecordingNotifier()
    cart = {**_cart(shop), "billing_address": ADDRESS}
    with serve(build(shop.engine, shop.gateway, shop.clock, notifier=notifier)) as base:
        client = Client(base + "/paykit", tokens)
        paid = client.call(
            "POST", "/checkout", {**cart, "payment_method_id": "pm_card_visa"}, who="ada"
        )
        declined = {**cart, "payment_method_id": "pm_card_chargeDeclined"}
        assert client.call("POST", "/checkout", declined, who="ada").status == 402
        refused = client.call("POST", f"/orders/{paid.body['id']}/refunds", {}, who="ada")
        assert refused.status == 403
        assert notifier.of_type(RefundIssued) == []  # a rolled-back request sends nothing
        refund = client.call("POST", f"/orders/{paid.body['id']}/refunds", {}, who="grace")
        assert refund.status == 201
    assert [e.order_id for e in notifier.of_type(OrderPaid)] == [paid.body["id"]]
    assert len(notifier.of_type(PaymentFailed)) == 1  # the declined attempt was committed
    assert len(notifier.of_type(RefundIssued)) == 1
