"""Download links over real HTTP (FastAPI and Flask, SQLite and PostgreSQL).

The buyer of a paid digital item gets a signed link; nobody, another customer,
an unpaid order or a used-up limit gets a problem, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session
from tests import factories
from tests.http.conftest import Client, Shop

from paykit import models as m
from paykit.security import Keyring
from paykit.security.encryption import configure_encryption, current_keyring
from paykit.services.downloads import redeem_download

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _keyring() -> Iterator[None]:
    """Process-wide (the servers run in their own threads), restored afterwards."""
    previous = current_keyring()
    configure_encryption(Keyring.generate())
    yield
    configure_encryption(previous)


def _items(shop: Shop) -> dict[str, str]:
    """Ada's paid e-book, her unpaid one, and a paid one with its one download used."""
    with Session(shop.engine) as session, session.begin():
        ada = session.get(m.User, shop.ids["ada"])
        assert ada is not None
        ids = {}
        for key, status, limit, used in (
            ("paid", m.OrderStatus.COMPLETED, None, 0),
            ("unpaid", m.OrderStatus.PENDING, None, 0),
            ("used_up", m.OrderStatus.COMPLETED, 1, 1),
        ):
            book = factories.product(
                session,
                type=m.ProductType.DIGITAL_DOWNLOAD,
                download_url=f"https://files.example.com/{key}.pdf",
                download_limit=limit,
            )
            order = factories.order(session, ada, product=book, status=status)
            order.items[0].download_count = used
            ids[key] = order.items[0].id
        return ids


def test_the_buyer_gets_a_link_that_redeems(shop_and_client: tuple[Shop, Client]) -> None:
    shop, client = shop_and_client
    ids = _items(shop)
    link = client.call("POST", f"/order-items/{ids['paid']}/download-link", who="ada")
    assert link.status == 201, link.body
    assert link.body["order_item_id"] == ids["paid"]
    assert link.body["expires_at"] > shop.clock.now().isoformat()
    with Session(shop.engine) as session, session.begin():
        grant = redeem_download(session, token=link.body["token"], clock=shop.clock)
    assert grant.url == "https://files.example.com/paid.pdf"


def test_download_refusals_are_problems_and_write_nothing(
    shop_and_client: tuple[Shop, Client],
) -> None:
    shop, client = shop_and_client
    ids = _items(shop)
    attacks: list[tuple[str, dict[str, object], int, str]] = [
        (ids["paid"], {}, 401, "authentication_required"),
        (ids["paid"], {"who": "bob"}, 404, "not_found"),
        (ids["paid"], {"who": "grace"}, 404, "not_found"),  # the customer's route: owner only
        ("no-such-item", {"who": "ada"}, 404, "not_found"),
        (ids["unpaid"], {"who": "ada"}, 409, "download_not_paid"),
        (ids["used_up"], {"who": "ada"}, 403, "download_limit_reached"),
    ]
    before = shop.counts()
    failures = []
    for item, options, status, code in attacks:
        answer = client.call("POST", f"/order-items/{item}/download-link", **options)  # type: ignore[arg-type]
        got = (answer.status, answer.code, answer.content_type)
        if got != (status, code, PROBLEM):
            failures.append(f"{item}: {got} {json.dumps(answer.body)[:200]}")
    assert failures == []
    assert shop.counts() == before
