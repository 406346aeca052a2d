"""The logged-in user's subscriptions over real HTTP (FastAPI and Flask, SQLite and PostgreSQL).

The owner lists and cancels their subscriptions, lists, sets default and detaches
their saved cards; nobody, another customer, or a bad body
gets a problem and writes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy.orm import Session
from tests import factories
from tests.http.conftest import Client, Shop

from paykit import models as m
from paykit.services.billing.payment_methods import store_payment_method
from paykit.services.subscriptions.customers import ensure_gateway_customer
from paykit.services.subscriptions.subscribe import subscribe

PROBLEM = "application/problem+json"


def _subscriptions(shop: Shop) -> dict[str, str]:
    """A monthly plan; ada and bob each on a 14-day trial of it. Their subscription ids."""
    with Session(shop.engine) as session, session.begin():
        plan = factories.product(session, type=m.ProductType.SUBSCRIPTION)
        stripe_id = shop.gateway.add_price(unit_amount=900, currency="usd", price_id="price_plan")
        price = factories.price(
            session,
            plan,
            stripe_price_id=stripe_id,
            unit_amount=Decimal("9.00"),
            type=m.PriceType.RECURRING,
            recurring={"interval": "month", "interval_count": 1},
        )
        return {
            who: subscribe(
                session,
                user_id=shop.ids[who],
                price_id=price.id,
                gateway=shop.gateway,
                trial_days=14,
                clock=shop.clock,
            ).id
            for who in ("ada", "bob")
        }


def test_the_owner_lists_and_cancels_a_subscription(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    subs = _subscriptions(shop)
    mine = client.call("GET", "/subscriptions", who="ada")
    assert mine.status == 200, mine.body
    assert mine.body["user_id"] == shop.ids["ada"]
    assert [s["id"] for s in mine.body["subscriptions"]] == [subs["ada"]]
    assert mine.body["subscriptions"][0]["status"] == "TRIALING"

    path = f"/subscriptions/{subs['ada']}/cancel"
    later = client.call("POST", path, who="ada")  # no body: at the period's end
    assert later.status == 200, later.body
    assert (later.body["id"], later.body["cancel_at_period_end"]) == (subs["ada"], True)
    assert later.body["status"] == "TRIALING"
    now = client.call(
        "POST", path, {"at_period_end": False, "feedback": "too_expensive"}, who="ada"
    )
    assert now.status == 200, now.body
    assert now.body["cancellation_feedback"] == "too_expensive"
    assert now.body["status"] == "CANCELLED"
    assert client.call("GET", "/subscriptions", who="ada").body["subscriptions"] == []
    theirs = client.call("GET", "/subscriptions", who="bob").body["subscriptions"]
    assert [s["id"] for s in theirs] == [subs["bob"]]  # untouched


def test_subscription_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    subs = _subscriptions(shop)
    cancel = f"/subscriptions/{subs['ada']}/cancel"
    attacks: list[tuple[str, dict[str, object], int, str]] = [
        ("GET /subscriptions", {}, 401, "authentication_required"),
        (f"POST {cancel}", {"payload": {}}, 401, "authentication_required"),
        (f"POST {cancel}", {"payload": {}, "who": "bob"}, 404, "not_found"),
        # Staff may cancel anyone's through the service, not through the customer's route.
        (f"POST {cancel}", {"payload": {}, "who": "grace"}, 404, "not_found"),
        ("POST /subscriptions/sub_nope/cancel", {"payload": {}, "who": "ada"}, 404, "not_found"),
        (f"POST {cancel}", {"raw": b"[]", "who": "ada"}, 400, "invalid_json"),
        (
            f"POST {cancel}",
            {"payload": {"at_period_end": "no"}, "who": "ada"},
            422,
            "validation_error",
        ),
        (f"POST {cancel}", {"payload": {"extra": 1}, "who": "ada"}, 422, "validation_error"),
        (
            f"POST {cancel}",
            {"payload": {"feedback": "spite"}, "who": "ada"},
            422,
            "invalid_argument",
        ),
        (
            f"POST {cancel}",
            {"payload": {"comment": "x" * 501}, "who": "ada"},
            422,
            "validation_error",
        ),
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
        row = session.get(m.Subscription, subs["ada"])
        assert row is not None
        assert not row.cancel_at_period_end


def _methods(shop: Shop) -> dict[str, str]:
    """Saved cards: ada's visa and mastercard, bob's visa. Their paykit row ids."""
    ids = {}
    with Session(shop.engine) as session, session.begin():
        for key, who, token in (
            ("ada_visa", "ada", "pm_card_visa"),
            ("ada_mc", "ada", "pm_card_mastercard"),
            ("bob_visa", "bob", "pm_card_visa"),
        ):
            user = session.get(m.User, shop.ids[who])
            assert user is not None
            customer = ensure_gateway_customer(session, user, shop.gateway, clock=shop.clock)
            method = shop.gateway.attach_payment_method(
                token, customer_id=customer, idempotency_key=f"pm-{key}"
            )
            row = store_payment_method(session, method, user_id=user.id, clock=shop.clock)
            ids[key] = row.id
    return ids


def test_the_owner_lists_sets_default_and_detaches_methods(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _methods(shop)
    mine = client.call("GET", "/payment-methods", who="ada")
    assert mine.status == 200, mine.body
    assert sorted(p["id"] for p in mine.body["items"]) == sorted([ids["ada_visa"], ids["ada_mc"]])
    assert all(
        set(p["card"]) <= {"brand", "last4", "exp_month", "exp_year", "funding", "country"}
        for p in mine.body["items"]
    )

    made = client.call("POST", f"/payment-methods/{ids['ada_visa']}/default", who="ada")
    assert made.status == 200, made.body
    assert (made.body["id"], made.body["is_default"]) == (ids["ada_visa"], True)
    first = client.call("GET", "/payment-methods", who="ada").body["items"][0]
    assert (first["id"], first["is_default"]) == (ids["ada_visa"], True)

    gone = client.call("DELETE", f"/payment-methods/{ids['ada_mc']}", who="ada")
    assert gone.status == 200, gone.body
    assert gone.body == {"id": ids["ada_mc"], "detached": True}
    left = client.call("GET", "/payment-methods", who="ada").body["items"]
    assert [p["id"] for p in left] == [ids["ada_visa"]]
    theirs = client.call("GET", "/payment-methods", who="bob").body["items"]
    assert [p["id"] for p in theirs] == [ids["bob_visa"]]


def test_payment_method_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _methods(shop)
    victim = f"/payment-methods/{ids['ada_visa']}"
    attacks: list[tuple[str, dict[str, object], int, str]] = [
        ("GET /payment-methods", {}, 401, "authentication_required"),
        (f"POST {victim}/default", {}, 401, "authentication_required"),
        (f"DELETE {victim}", {}, 401, "authentication_required"),
        (f"POST {victim}/default", {"who": "bob"}, 404, "not_found"),
        (f"DELETE {victim}", {"who": "bob"}, 404, "not_found"),
        (f"POST {victim}/default", {"who": "grace"}, 404, "not_found"),
        (f"DELETE {victim}", {"who": "grace"}, 404, "not_found"),
        ("DELETE /payment-methods/pm_nope", {"who": "ada"}, 404, "not_found"),
        (
            "POST /payment-methods/pm_nope/default",
            {"headers": {"Authorization": "Bearer forged"}},
            401,
            "invalid_token",
        ),
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
