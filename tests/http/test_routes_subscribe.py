"""Starting, changing and resuming one's own subscription, and saving a card, over real HTTP.

FastAPI and Flask, SQLite and PostgreSQL. The owner subscribes with a saved
card, adds seats, moves to another plan, cancels at the period's end with a
reason and resumes; another customer, staff through the customer's routes, an
unknown id or a bad body gets a problem and writes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories
from tests.http.conftest import Client, Shop

from paykit import models as m
from paykit.services.billing.payment_methods import store_payment_method
from paykit.services.subscriptions.customers import ensure_gateway_customer

PROBLEM = "application/problem+json"


def _plans(shop: Shop) -> dict[str, str]:
    """Plans ``basic`` (9.00/month) and ``pro`` (29.00/month), a one-time price, saved cards."""
    ids: dict[str, str] = {}
    with Session(shop.engine) as session, session.begin():
        plan = factories.product(session, type=m.ProductType.SUBSCRIPTION, trial_days=0)
        for key, amount in (("basic", Decimal("9.00")), ("pro", Decimal("29.00"))):
            stripe_id = shop.gateway.add_price(
                unit_amount=int(amount * 100), currency="usd", price_id=f"price_{key}"
            )
            ids[key] = factories.price(
                session,
                plan,
                stripe_price_id=stripe_id,
                unit_amount=amount,
                type=m.PriceType.RECURRING,
                recurring={"interval": "month", "interval_count": 1},
            ).id
        for who in ("ada", "bob"):
            user = session.get(m.User, shop.ids[who])
            assert user is not None
            customer = ensure_gateway_customer(session, user, shop.gateway, clock=shop.clock)
            card = shop.gateway.attach_payment_method(
                "pm_card_visa", customer_id=customer, idempotency_key=f"pm-{who}"
            )
            ids[f"{who}_card"] = store_payment_method(
                session, card, user_id=user.id, clock=shop.clock
            ).id
    ids["one_time"] = shop.ids["price"]
    return ids


def test_the_owner_subscribes_changes_cancels_and_resumes(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _plans(shop)
    started = client.call(
        "POST",
        "/subscriptions",
        {"price_id": ids["basic"], "payment_method_id": ids["ada_card"]},
        who="ada",
        headers={"Idempotency-Key": "ada-sub-1"},
    )
    assert started.status == 201, started.body
    sub = started.body["id"]
    assert (started.body["status"], started.body["price_id"]) == ("ACTIVE", ids["basic"])
    assert (started.body["quantity"], started.body["unit_amount"]) == (1, "9.00")
    (gateway_sub,) = shop.gateway.subscriptions.values()
    with Session(shop.engine) as session:
        card = session.get(m.PaymentMethod, ids["ada_card"])
        assert card is not None
        assert gateway_sub.raw["default_payment_method"] == card.stripe_payment_method_id
    # Stored on the row and answered with it: no gateway call to show the card.
    assert started.body["default_payment_method_id"] == card.stripe_payment_method_id
    again = client.call(
        "POST",
        "/subscriptions",
        {"price_id": ids["basic"], "payment_method_id": ids["ada_card"]},
        who="ada",
        headers={"Idempotency-Key": "ada-sub-1"},
    )
    assert (again.status, again.body["id"]) == (201, sub)  # the same key: the same one
    assert len(shop.gateway.subscriptions) == 1

    seats = client.call("POST", f"/subscriptions/{sub}/change", {"quantity": 3}, who="ada")
    assert seats.status == 200, seats.body
    assert (seats.body["quantity"], seats.body["price_id"]) == (3, ids["basic"])
    later = client.call(
        "POST",
        f"/subscriptions/{sub}/change",
        {"price_id": ids["pro"], "at_period_end": True},
        who="ada",
    )
    assert later.status == 200, later.body
    assert (later.body["price_id"], later.body["pending_price_id"]) == (ids["basic"], ids["pro"])
    upgraded = client.call(
        "POST", f"/subscriptions/{sub}/change", {"price_id": ids["pro"]}, who="ada"
    )
    assert upgraded.status == 200, upgraded.body
    assert (upgraded.body["price_id"], upgraded.body["unit_amount"]) == (ids["pro"], "29.00")

    cancel = {"feedback": "too_expensive", "comment": "cheaper elsewhere"}
    ending = client.call("POST", f"/subscriptions/{sub}/cancel", cancel, who="ada")
    assert ending.status == 200, ending.body
    assert (ending.body["cancel_at_period_end"], ending.body["status"]) == (True, "ACTIVE")
    assert ending.body["cancellation_feedback"] == "too_expensive"
    resumed = client.call("POST", f"/subscriptions/{sub}/resume", who="ada")
    assert resumed.status == 200, resumed.body
    assert (resumed.body["cancel_at_period_end"], resumed.body["cancellation_feedback"]) == (
        False,
        None,
    )
    listed = client.call("GET", "/subscriptions", who="ada").body["subscriptions"]
    assert [(s["id"], s["quantity"]) for s in listed] == [(sub, 3)]
    assert client.call("GET", "/subscriptions", who="bob").body["subscriptions"] == []


def test_subscribe_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _plans(shop)
    mine = client.call(
        "POST",
        "/subscriptions",
        {"price_id": ids["basic"], "payment_method_id": ids["ada_card"]},
        who="ada",
    )
    assert mine.status == 201, mine.body
    sub = mine.body["id"]
    good = {"price_id": ids["basic"]}
    attacks: list[tuple[str, dict[str, object], int, str]] = [
        ("POST /subscriptions", {"payload": good}, 401, "authentication_required"),
        # bob pays with ada's saved card: not his, so not found.
        (
            "POST /subscriptions",
            {"payload": {**good, "payment_method_id": ids["ada_card"]}, "who": "bob"},
            404,
            "not_found",
        ),
        ("POST /subscriptions", {"payload": {"price_id": "nope"}, "who": "bob"}, 404, "not_found"),
        (
            "POST /subscriptions",
            {"payload": {"price_id": ids["one_time"]}, "who": "bob"},
            422,
            "price_not_recurring",
        ),
        (
            "POST /subscriptions",
            {"payload": {**good, "quantity": 0}, "who": "bob"},
            422,
            "validation_error",
        ),
        (
            "POST /subscriptions",
            {"payload": {**good, "trial_days": 365}, "who": "bob"},
            422,
            "validation_error",
        ),
        (
            "POST /subscriptions",
            {"payload": {**good, "user_id": shop.ids["ada"]}, "who": "bob"},
            422,
            "validation_error",
        ),
        ("POST /subscriptions", {"raw": b"{", "who": "bob"}, 400, "invalid_json"),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"quantity": 2}},
            401,
            "authentication_required",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"quantity": 2}, "who": "bob"},
            404,
            "not_found",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"quantity": 2}, "who": "grace"},
            404,
            "not_found",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {}, "who": "ada"},
            422,
            "validation_error",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"quantity": "2"}, "who": "ada"},
            422,
            "validation_error",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"proration": "none", "quantity": 2}, "who": "ada"},
            422,
            "validation_error",
        ),
        (
            f"POST /subscriptions/{sub}/change",
            {"payload": {"price_id": ids["one_time"]}, "who": "ada"},
            422,
            "price_not_recurring",
        ),
        (f"POST /subscriptions/{sub}/resume", {}, 401, "authentication_required"),
        (f"POST /subscriptions/{sub}/resume", {"who": "bob"}, 404, "not_found"),
        ("POST /subscriptions/sub_nope/resume", {"who": "ada"}, 404, "not_found"),
    ]
    before = shop.counts()
    failures = []
    for where, options, status, code in attacks:
        method, path = where.split(" ", 1)
        answer = client.call(method, path, **options)  # type: ignore[arg-type]
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(f"{where}: {got} {json.dumps(answer.body)[:200]}")
    assert failures == []
    assert shop.counts() == before
    with Session(shop.engine) as session:
        row = session.get(m.Subscription, sub)
        assert row is not None
        assert (row.quantity, row.price_id) == (1, ids["basic"])


def test_the_owner_starts_a_card_setup(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    started = client.call(
        "POST", "/payment-methods/setup", who="ada", headers={"Idempotency-Key": "setup-1"}
    )
    assert started.status == 201, started.body
    assert set(started.body) == {"id", "status", "client_secret"}
    assert started.body["client_secret"].startswith(started.body["id"])
    assert started.body["status"] == "requires_payment_method"
    intent = shop.gateway.retrieve_setup_intent(started.body["id"])
    with Session(shop.engine) as session:
        ada = session.get(m.User, shop.ids["ada"])
        assert ada is not None
        assert intent.customer_id == ada.stripe_customer_id
    refused = client.call("POST", "/payment-methods/setup")
    assert (refused.status, refused.code, refused.content_type) == (
        401,
        "authentication_required",
        PROBLEM,
    )


def test_the_openapi_schema_shows_the_account_and_admin_models() -> None:
    import sqlalchemy as sa
    from fastapi import FastAPI

    from paykit.contrib.fastapi import mount_paykit
    from paykit.testing import FakeGateway

    app = FastAPI()
    mount_paykit(app, sa.create_engine("sqlite://"), gateway=FakeGateway())
    paths = app.openapi()["paths"]
    expected = {
        ("post", "/paykit/subscriptions", "201"): "SubscriptionViewOut",
        ("post", "/paykit/subscriptions/{subscription_id}/change", "200"): "SubscriptionViewOut",
        ("post", "/paykit/subscriptions/{subscription_id}/resume", "200"): "SubscriptionViewOut",
        ("post", "/paykit/payment-methods/setup", "201"): "SetupIntentOut",
        ("get", "/paykit/payment-methods", "200"): "PaymentMethodListOut",
        ("patch", "/paykit/reviews/{review_id}", "200"): "ReviewOut",
        ("delete", "/paykit/reviews/{review_id}", "200"): "DeletedOut",
        ("post", "/paykit/reviews/{review_id}/hide", "200"): "ReviewOut",
        ("post", "/paykit/admin/products", "201"): "ProductView",
        ("patch", "/paykit/admin/products/{product_id}", "200"): "ProductView",
        ("post", "/paykit/admin/products/{product_id}/prices", "201"): "PriceAdminOut",
        ("patch", "/paykit/admin/prices/{price_id}", "200"): "PriceAdminOut",
        ("post", "/paykit/admin/discounts", "201"): "DiscountOut",
        ("patch", "/paykit/admin/discounts/{discount_id}", "200"): "DiscountOut",
    }
    shown = {
        where: json.dumps(paths[where[1]][where[0]]["responses"][where[2]]) for where in expected
    }
    assert {where: model for where, model in expected.items() if model not in shown[where]} == {}
    problem = paths["/paykit/subscriptions"]["post"]["responses"]["4XX"]
    assert PROBLEM in problem["content"]


def test_a_renewal_notice_reaches_the_notifier_through_the_webhook_route(
    fresh_engine: Engine, framework: str
) -> None:
    from tests.http.conftest import SECRET, SERVERS, make_shop
    from tests.stripe_server import sign

    from paykit.notifications import RecordingNotifier, RenewalUpcoming

    shop, tokens = make_shop(fresh_engine)
    ids = _plans(shop)
    recorder = RecordingNotifier()
    build, serve = SERVERS[framework]
    with serve(build(shop.engine, shop.gateway, shop.clock, notifier=recorder)) as base:
        client = Client(base + "/paykit", tokens)
        sub = client.call("POST", "/subscriptions", {"price_id": ids["pro"]}, who="ada")
        assert sub.status == 201, sub.body
        with Session(shop.engine) as session:
            row = session.get(m.Subscription, sub.body["id"])
            assert row is not None
            stripe_id, period_end = row.stripe_subscription_id, row.current_period_end
        shop.gateway.drain_events()
        shop.gateway.announce_renewal(stripe_id)
        [event] = shop.gateway.drain_events()
        body = json.dumps(event).encode()
        signature = sign(body, SECRET, timestamp=int(shop.clock.now().timestamp()))
        for _ in range(2):  # Stripe retries: the second delivery is a duplicate
            answer = client.call(
                "POST", "/webhooks/stripe", raw=body, headers={"Stripe-Signature": signature}
            )
            assert answer.status == 200, answer.body
    [notice] = recorder.of_type(RenewalUpcoming)
    assert (notice.subscription_id, notice.user_id) == (sub.body["id"], shop.ids["ada"])
    assert (notice.amount_due, notice.currency, notice.renews_at) == (
        Decimal("29.00"),
        "USD",
        period_end,
    )
