"""The catalog endpoints over real HTTP (FastAPI and Flask, SQLite and PostgreSQL).

Public: no token needed. Only PUBLISHED products are listed or found; a draft,
an unknown id, a bad filter or a forged cursor is a problem that writes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories
from tests.http.conftest import Client, Shop

from paykit import models as m

PROBLEM = "application/problem+json"


def _catalog(shop: Shop) -> dict[str, str]:
    """Two more published products (one featured) and a draft; their ids and slugs."""
    with Session(shop.engine) as session, session.begin():
        lamp = factories.product(
            session, name="Desk lamp", slug="desk-lamp", base_price=Decimal("40.00")
        )
        factories.price(session, lamp)
        pen = factories.product(session, name="Pen", base_price=Decimal("2.00"), featured=True)
        draft = factories.product(session, name="Secret", status=m.ProductStatus.DRAFT)
        return {"lamp": lamp.id, "pen": pen.id, "draft": draft.id, "draft_slug": draft.slug}


def test_list_and_get_products_without_a_token(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    ids = _catalog(shop)
    first = client.call("GET", "/products?limit=2&sort=price_asc")
    assert first.status == 200, first.body
    assert [p["id"] for p in first.body["items"]] == [ids["pen"], shop.ids["product"]]
    assert first.body["next_cursor"]
    cursor = first.body["next_cursor"]
    rest = client.call("GET", f"/products?limit=2&sort=price_asc&cursor={cursor}")
    assert [p["id"] for p in rest.body["items"]] == [ids["lamp"]]
    assert rest.body["next_cursor"] is None

    cheap = client.call("GET", "/products?max_price=15&currency=USD&sort=price_desc")
    assert cheap.status == 200, cheap.body
    assert [p["id"] for p in cheap.body["items"]] == [shop.ids["product"], ids["pen"]]
    featured = client.call("GET", "/products?featured=true")
    assert [p["id"] for p in featured.body["items"]] == [ids["pen"]]

    lamp = client.call("GET", f"/products/{ids['lamp']}")
    assert lamp.status == 200, lamp.body
    assert (lamp.body["slug"], lamp.body["base_price"]) == ("desk-lamp", "40.00")
    by_slug = client.call("GET", "/products/slug/desk-lamp")
    assert by_slug.status == 200
    assert by_slug.body["id"] == ids["lamp"]


def test_catalog_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _catalog(shop)
    before = shop.counts()
    attacks = [
        (f"/products/{ids['draft']}", 404, "not_found"),
        (f"/products/slug/{ids['draft_slug']}", 404, "not_found"),
        ("/products/no-such-product", 404, "not_found"),
        ("/products?status=DRAFT", 422, "validation_error"),
        ("/products?limit=0", 422, "validation_error"),
        ("/products?limit=lots", 422, "validation_error"),
        ("/products?min_price=-1", 422, "validation_error"),
        ("/products?type=BOGUS", 422, "validation_error"),
        ("/products?cursor=forged", 422, "invalid_cursor"),
    ]
    failures = []
    for path, status, code in attacks:
        answer = client.call("GET", path, who="ada" if "DRAFT" in path else None)
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(f"{path}: {got} {json.dumps(answer.body)[:200]}")
    assert failures == []
    assert shop.counts() == before


def test_the_openapi_schema_lists_every_route() -> None:
    from fastapi import FastAPI

    from paykit.contrib._http import ROUTES
    from paykit.contrib.fastapi import mount_paykit
    from paykit.testing import FakeGateway

    app = FastAPI()
    mount_paykit(app, sa.create_engine("sqlite://"), gateway=FakeGateway())
    schema = app.openapi()
    paths = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    assert paths == {(r.method, "/paykit" + r.path) for r in ROUTES}
    listing = schema["paths"]["/paykit/products"]["get"]["responses"]["200"]
    assert "ProductOut" in json.dumps(listing)
