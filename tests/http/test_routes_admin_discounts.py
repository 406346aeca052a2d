"""The admin discount routes over real HTTP: FastAPI and Flask, SQLite and PostgreSQL.

An admin creates a code (limited to a product, once per customer), a customer
uses it at checkout, and the admin changes and retires it; the answers show
the row as stored (``current_uses`` counting the checkout). A customer, a
support agent, an anonymous caller, an unknown id, a taken code or a bad body
gets a problem and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session
from tests.http.conftest import Client, Shop, add_admin

from paykit import models as m

PROBLEM = "application/problem+json"
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def _row(shop: Shop, discount_id: str) -> dict[str, Any]:
    with Session(shop.engine) as session:
        row = session.get(m.Discount, discount_id)
        assert row is not None
        return {c.key: getattr(row, c.key) for c in m.Discount.__table__.columns}


def test_an_admin_creates_changes_and_retires_a_code(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    code = {
        "code": "MUG5",
        "name": "Five off mugs",
        "type": "FIXED_AMOUNT",
        "value": "5",
        "currency": "USD",
        "max_uses_per_customer": 1,
        "product_ids": [shop.ids["product"]],
        "valid_until": "2026-12-31T23:59:59Z",
    }
    made = client.call("POST", "/admin/discounts", code, who="root")
    assert made.status == 201, made.body
    view = made.body
    assert (view["code"], view["type"], view["value"], view["currency"]) == (
        "MUG5",
        "FIXED_AMOUNT",
        "5.00",
        "USD",
    )
    assert (view["product_ids"], view["current_uses"], view["active"]) == (
        [shop.ids["product"]],
        0,
        True,
    )
    assert view["valid_until"].startswith("2026-12-31T23:59:59")

    order = {
        "items": [{"price_id": shop.ids["price"], "quantity": 1}],
        "billing_address": ADDRESS,
        "discount_code": "mug5",
    }
    bought = client.call("POST", "/checkout", order, who="ada")
    assert bought.status == 201, bought.body
    assert bought.body["discount_amount"] == "5.00"

    changed = client.call(
        "PATCH",
        f"/admin/discounts/{view['id']}",
        {"name": "Mugs: five off", "max_uses": 10},
        who="root",
    )
    assert changed.status == 200, changed.body
    assert (changed.body["name"], changed.body["max_uses"], changed.body["current_uses"]) == (
        "Mugs: five off",
        10,
        1,
    )
    retired = client.call("PATCH", f"/admin/discounts/{view['id']}", {"active": False}, who="root")
    assert (retired.status, retired.body["active"]) == (200, False)
    again = client.call(
        "POST", "/quote", {"items": order["items"], "discount_code": "MUG5"}, who="bob"
    )
    # A retired code applies to nobody: the quote prices without it, and says why.
    assert again.status == 200, again.body
    assert (again.body["discount_amount"], again.body["discount_error"]) == (
        "0.00",
        "discount_inactive",
    )


def test_an_admin_lists_codes_page_by_page(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    for n in range(3):
        code = {"code": f"LIST{n}", "name": "n", "type": "PERCENTAGE", "value": "10"}
        assert client.call("POST", "/admin/discounts", code, who="root").status == 201
    first = client.call("GET", "/admin/discounts?limit=2", who="root")
    assert first.status == 200, first.body
    assert len(first.body["items"]) == 2
    assert first.body["next_cursor"]
    rest = client.call(
        "GET", f"/admin/discounts?limit=2&cursor={first.body['next_cursor']}", who="root"
    )
    codes = [d["code"] for d in first.body["items"] + rest.body["items"]]
    assert sorted(codes) == ["LIST0", "LIST1", "LIST2"]
    assert rest.body["next_cursor"] is None
    retired = client.call("GET", "/admin/discounts?active=false", who="root")
    assert (retired.status, retired.body["items"]) == (200, [])
    for who, status, code in (
        (None, 401, "authentication_required"),
        ("ada", 403, "permission_denied"),
    ):
        refused = client.call("GET", "/admin/discounts", who=who)
        assert (refused.status, refused.code) == (status, code)
    bad = client.call("GET", "/admin/discounts?limit=0", who="root")
    assert (bad.status, bad.code) == (422, "validation_error")


def test_a_percentage_code_answers_its_percent(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    made = client.call(
        "POST",
        "/admin/discounts",
        {"code": "TENOFF", "name": "Ten", "type": "PERCENTAGE", "value": "12.5"},
        who="root",
    )
    assert made.status == 201, made.body
    assert (made.body["value"], made.body["product_ids"], made.body["minimum_amount"]) == (
        "12.5",
        [],
        None,
    )


def test_admin_discount_refusals_are_problems_and_change_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    good = {"code": "SPRING", "name": "Spring", "type": "PERCENTAGE", "value": "10"}
    made = client.call("POST", "/admin/discounts", good, who="root")
    assert made.status == 201, made.body
    spring = f"/admin/discounts/{made.body['id']}"
    before = (shop.counts(), _row(shop, made.body["id"]))
    attacks: list[tuple[str, dict[str, Any], int, str]] = [
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "X1X"}},
            401,
            "authentication_required",
        ),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "X2X"}, "who": "ada"},
            403,
            "permission_denied",
        ),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "X3X"}, "who": "grace"},
            403,
            "permission_denied",
        ),
        (f"PATCH {spring}", {"payload": {"active": False}, "who": "ada"}, 403, "permission_denied"),
        (f"PATCH {spring}", {"payload": {"active": False}}, 401, "authentication_required"),
        ("POST /admin/discounts", {"payload": good, "who": "root"}, 409, "discount_code_taken"),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "BIG", "value": "150"}, "who": "root"},
            422,
            "validation_error",
        ),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "NEG", "value": "-1"}, "who": "root"},
            422,
            "validation_error",
        ),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "a b"}, "who": "root"},
            422,
            "validation_error",
        ),
        (
            "POST /admin/discounts",
            {"payload": {**good, "code": "GONE", "product_ids": ["nope"]}, "who": "root"},
            404,
            "not_found",
        ),
        (
            "POST /admin/discounts",
            {
                "payload": {**good, "code": "FIX", "type": "FIXED_AMOUNT", "currency": None},
                "who": "root",
            },
            422,
            "currency_required",
        ),
        ("POST /admin/discounts", {"raw": b"nope", "who": "root"}, 400, "invalid_json"),
        (
            "PATCH /admin/discounts/nope",
            {"payload": {"active": False}, "who": "root"},
            404,
            "not_found",
        ),
        (f"PATCH {spring}", {"payload": {"code": "OTHER"}, "who": "root"}, 422, "validation_error"),
        (f"PATCH {spring}", {"payload": {"max_uses": 0}, "who": "root"}, 422, "validation_error"),
        (
            f"PATCH {spring}",
            {"payload": {"valid_until": "2026-13-01"}, "who": "root"},
            422,
            "validation_error",
        ),
    ]
    failures = []
    for where, options, status, code in attacks:
        method, path = where.split(" ", 1)
        answer = client.call(method, path, **options)
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(
                f"{where} {options.get('payload')}: {got} {json.dumps(answer.body)[:200]}"
            )
    assert failures == []
    assert (shop.counts(), _row(shop, made.body["id"])) == before
