"""Editing and moderating reviews, and the admin catalog, over real HTTP.

FastAPI and Flask, SQLite and PostgreSQL. The author edits and deletes their
own review, staff hide one (and show it again) or delete it as moderation; an
admin creates and changes a product and its prices. Another customer, a
customer on a staff route, an unknown id or a bad body gets a problem and
writes nothing.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session
from tests.http.conftest import Client, Shop, add_admin

from paykit import models as m

PROBLEM = "application/problem+json"


def _attack(
    client: Client, shop: Shop, attacks: list[tuple[str, dict[str, object], int, str]]
) -> None:
    """Each request is refused with its status and code, and no table changes."""
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


def _reviews(shop: Shop, client: Client) -> dict[str, str]:
    path = f"/products/{shop.ids['product']}/reviews"
    ids = {}
    for who, rating in (("ada", 5), ("bob", 1)):
        made = client.call("POST", path, {"rating": rating, "content": "Holds tea."}, who=who)
        assert made.status == 201, made.body
        ids[who] = made.body["id"]
    return ids


def test_authors_edit_and_delete_and_staff_moderate(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    ids = _reviews(shop, client)
    listing = f"/products/{shop.ids['product']}/reviews"
    edited = client.call(
        "PATCH", f"/reviews/{ids['ada']}", {"rating": 4, "title": "Good"}, who="ada"
    )
    assert edited.status == 200, edited.body
    assert (edited.body["rating"], edited.body["title"], edited.body["content"]) == (
        4,
        "Good",
        "Holds tea.",
    )

    hidden = client.call("POST", f"/reviews/{ids['bob']}/hide", {"reason": "abusive"}, who="grace")
    assert hidden.status == 200, hidden.body
    assert hidden.body["hidden"] is True
    shown = [r["id"] for r in client.call("GET", listing).body["items"]]
    assert shown == [ids["ada"]]
    back = client.call("POST", f"/reviews/{ids['bob']}/hide", {"hidden": False}, who="grace")
    assert (back.status, back.body["hidden"]) == (200, False)
    assert len(client.call("GET", listing).body["items"]) == 2

    gone = client.call("DELETE", f"/reviews/{ids['ada']}", who="ada")
    assert (gone.status, gone.body) == (200, {"id": ids["ada"], "deleted": True})
    moderated = client.call("DELETE", f"/reviews/{ids['bob']}", who="grace")
    assert moderated.status == 200, moderated.body
    assert client.call("GET", listing).body["items"] == []


def test_review_moderation_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _reviews(shop, client)
    ada = f"/reviews/{ids['ada']}"
    _attack(
        client,
        shop,
        [
            (f"PATCH {ada}", {"payload": {"rating": 1}}, 401, "authentication_required"),
            (f"PATCH {ada}", {"payload": {"rating": 1}, "who": "bob"}, 404, "not_found"),
            # staff moderate (hide, delete) but never edit a customer's words
            (f"PATCH {ada}", {"payload": {"rating": 1}, "who": "grace"}, 404, "not_found"),
            (f"DELETE {ada}", {"who": "bob"}, 404, "not_found"),
            (f"DELETE {ada}", {}, 401, "authentication_required"),
            ("DELETE /reviews/nope", {"who": "ada"}, 404, "not_found"),
            (f"POST {ada}/hide", {"payload": {}, "who": "bob"}, 403, "permission_denied"),
            (f"POST {ada}/hide", {"payload": {}, "who": "ada"}, 403, "permission_denied"),
            ("POST /reviews/nope/hide", {"payload": {}, "who": "grace"}, 404, "not_found"),
            (f"PATCH {ada}", {"payload": {"rating": 9}, "who": "ada"}, 422, "invalid_rating"),
            (f"PATCH {ada}", {"payload": {"rating": "4"}, "who": "ada"}, 422, "validation_error"),
            (f"PATCH {ada}", {"payload": {"hidden": True}, "who": "ada"}, 422, "validation_error"),
            (f"PATCH {ada}", {"raw": b"[1]", "who": "ada"}, 400, "invalid_json"),
            (
                f"POST {ada}/hide",
                {"payload": {"hidden": "yes"}, "who": "grace"},
                422,
                "validation_error",
            ),
        ],
    )


def test_an_admin_creates_and_changes_products_and_prices(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    product = {
        "name": "Teapot",
        "description": "A teapot that pours.",
        "base_price": "30.00",
        "type": "ONE_TIME",
        "slug": "teapot",
    }
    made = client.call("POST", "/admin/products", product, who="root")
    assert made.status == 201, made.body
    product_id = made.body["id"]
    assert (made.body["status"], made.body["base_price"], made.body["prices"]) == (
        "DRAFT",
        "30.00",
        [],
    )
    assert client.call("GET", f"/products/{product_id}").status == 404  # a draft
    price = client.call(
        "POST",
        f"/admin/products/{product_id}/prices",
        {"stripe_price_id": "price_teapot", "unit_amount": "30.00"},
        who="root",
    )
    assert price.status == 201, price.body
    assert (price.body["product_id"], price.body["unit_amount"], price.body["active"]) == (
        product_id,
        "30.00",
        True,
    )
    published = client.call(
        "PATCH", f"/admin/products/{product_id}", {"status": "PUBLISHED"}, who="root"
    )
    assert published.status == 200, published.body
    public = client.call("GET", f"/products/{product_id}")
    assert public.status == 200, public.body
    assert [p["id"] for p in public.body["prices"]] == [price.body["id"]]
    retired = client.call(
        "PATCH", f"/admin/prices/{price.body['id']}", {"active": False}, who="root"
    )
    assert (retired.status, retired.body["active"]) == (200, False)
    assert client.call("GET", f"/products/{product_id}").body["prices"] == []


def test_admin_catalog_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    add_admin(shop, client)
    good = {
        "name": "Teapot",
        "description": "A teapot that pours.",
        "base_price": "30.00",
        "type": "ONE_TIME",
        "slug": "teapot",
    }
    mug = f"/admin/products/{shop.ids['product']}"
    price = f"/admin/prices/{shop.ids['price']}"
    with Session(shop.engine) as session:
        taken = session.get(m.Product, shop.ids["product"])
        assert taken is not None
        taken_slug = taken.slug
    _attack(
        client,
        shop,
        [
            ("POST /admin/products", {"payload": good}, 401, "authentication_required"),
            ("POST /admin/products", {"payload": good, "who": "ada"}, 403, "permission_denied"),
            ("POST /admin/products", {"payload": good, "who": "grace"}, 403, "permission_denied"),
            (f"PATCH {mug}", {"payload": {"name": "Mine"}, "who": "ada"}, 403, "permission_denied"),
            (
                f"POST {mug}/prices",
                {"payload": {"stripe_price_id": "p", "unit_amount": "1.00"}, "who": "ada"},
                403,
                "permission_denied",
            ),
            (
                f"PATCH {price}",
                {"payload": {"active": False}, "who": "ada"},
                403,
                "permission_denied",
            ),
            (
                "POST /admin/products",
                {"payload": {**good, "base_price": "-1"}, "who": "root"},
                422,
                "validation_error",
            ),
            (
                "POST /admin/products",
                {"payload": {**good, "slug": taken_slug}, "who": "root"},
                409,
                "product_slug_taken",
            ),
            ("POST /admin/products", {"raw": b"nope", "who": "root"}, 400, "invalid_json"),
            (
                "PATCH /admin/products/nope",
                {"payload": {"name": "X"}, "who": "root"},
                404,
                "not_found",
            ),
            (f"PATCH {mug}", {"payload": {"slug": "x"}, "who": "root"}, 422, "validation_error"),
            (
                f"PATCH {price}",
                {"payload": {"active": "no"}, "who": "root"},
                422,
                "validation_error",
            ),
            (
                "PATCH /admin/prices/nope",
                {"payload": {"active": True}, "who": "root"},
                404,
                "not_found",
            ),
            (
                f"POST {mug}/prices",
                {"payload": {"stripe_price_id": "p", "unit_amount": "lots"}, "who": "root"},
                422,
                "validation_error",
            ),
            (
                "POST /admin/products/nope/prices",
                {"payload": {"stripe_price_id": "p", "unit_amount": "1.00"}, "who": "root"},
                404,
                "not_found",
            ),
        ],
    )
