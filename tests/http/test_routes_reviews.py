"""Product reviews over real HTTP (FastAPI and Flask, SQLite and PostgreSQL).

Anyone lists a product's visible reviews; a logged-in customer writes one
review per product, as themselves. Every refusal is a problem that writes nothing.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session
from tests import factories
from tests.http.conftest import Client, Shop

from paykit import models as m

PROBLEM = "application/problem+json"


def test_customers_review_and_anyone_reads(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    path = f"/products/{shop.ids['product']}/reviews"
    assert client.call("GET", path).body == {"items": [], "next_cursor": None}
    ada = client.call(
        "POST", path, {"rating": 5, "content": "Holds tea.", "title": "Good"}, who="ada"
    )
    assert ada.status == 201, ada.body
    assert (ada.body["user_id"], ada.body["rating"], ada.body["verified"]) == (
        shop.ids["ada"],
        5,
        False,
    )
    shop.clock.advance(seconds=60)
    bob = client.call("POST", path, {"rating": 2, "content": "Chipped."}, who="bob")
    assert bob.status == 201, bob.body

    first = client.call("GET", f"{path}?limit=1")
    assert first.status == 200, first.body
    assert [r["id"] for r in first.body["items"]] == [bob.body["id"]]
    rest = client.call("GET", f"{path}?limit=1&cursor={first.body['next_cursor']}")
    assert [r["id"] for r in rest.body["items"]] == [ada.body["id"]]
    assert "email" not in json.dumps(rest.body)


def test_review_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    with Session(shop.engine) as session, session.begin():
        draft = factories.product(session, status=m.ProductStatus.DRAFT).id
    path = f"/products/{shop.ids['product']}/reviews"
    good = {"rating": 4, "content": "Fine."}
    assert client.call("POST", path, good, who="ada").status == 201
    attacks: list[tuple[str, dict[str, object], int, str]] = [
        (f"POST {path}", {"payload": good}, 401, "authentication_required"),
        (f"POST {path}", {"payload": good, "who": "ada"}, 409, "review_exists"),
        (f"POST /products/{draft}/reviews", {"payload": good, "who": "bob"}, 404, "not_found"),
        ("POST /products/nope/reviews", {"payload": good, "who": "bob"}, 404, "not_found"),
        (f"POST {path}", {"payload": {**good, "rating": 6}, "who": "bob"}, 422, "invalid_rating"),
        (
            f"POST {path}",
            {"payload": {**good, "rating": "5"}, "who": "bob"},
            422,
            "validation_error",
        ),
        (
            f"POST {path}",
            {"payload": {**good, "user_id": shop.ids["ada"]}, "who": "bob"},
            422,
            "validation_error",
        ),
        (f"POST {path}", {"payload": {**good, "content": " "}, "who": "bob"}, 422, "invalid_text"),
        (f"POST {path}", {"raw": b"{", "who": "bob"}, 400, "invalid_json"),
        (f"GET {path}?limit=0", {}, 422, "validation_error"),
        (f"GET /products/{draft}/reviews", {}, 404, "not_found"),
        (f"GET {path}?cursor=forged", {}, 422, "invalid_cursor"),
    ]
    before = shop.counts()
    failures = []
    for where, options, status, code in attacks:
        method, target = where.split(" ", 1)
        answer = client.call(method, target, **options)  # type: ignore[arg-type]
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(f"{where}: {got} {json.dumps(answer.body)[:200]}")
    assert failures == []
    assert shop.counts() == before
