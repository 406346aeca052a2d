"""Download links: signed, expiring, limited (atomically), stopped by a full refund."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import InvalidState, NotFound, PaykitError, PermissionDenied, ValidationError
from paykit.security import Actor, Keyring, use_keyring

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CLOCK = FrozenClock(T0)
KEYRING = Keyring.generate("k1")


@pytest.fixture(autouse=True)
def _keys() -> Iterator[None]:
    with use_keyring(KEYRING):
        yield


def _item(session: Session, *, limit: int | None = 3, **kw: Any) -> tuple[Actor, m.OrderItem]:
    user = f.user(session)
    product = f.product(
        session,
        type=m.ProductType.DIGITAL_DOWNLOAD,
        download_url=kw.pop("download_url", "https://files.example.com/book.pdf"),
        download_limit=limit,
    )
    status = kw.pop("status", m.OrderStatus.COMPLETED)
    order_fields = kw.pop("order", {})
    order = f.order(
        session,
        user,
        product=product,
        item=kw,
        status=status,
        **order_fields,
    )
    return Actor.of(user), order.items[0]


def _link(session: Session, actor: Actor, item: m.OrderItem, **kw: Any) -> paykit.DownloadLink:
    return paykit.download_link(
        session, actor=actor, order_item_id=item.id, clock=kw.pop("clock", CLOCK), **kw
    )


def _code(call: Any) -> str:
    with pytest.raises(PaykitError) as caught:
        call()
    return caught.value.code


def test_a_link_redeems_until_the_limit(session: Session) -> None:
    actor, item = _item(session, limit=2)
    link = _link(session, actor, item)
    assert link.expires_at == T0 + timedelta(hours=24)
    first = paykit.redeem_download(session, token=link.token, clock=CLOCK)
    assert (first.url, first.download_count, first.downloads_left) == (
        "https://files.example.com/book.pdf",
        1,
        1,
    )
    assert paykit.redeem_download(session, token=link.token, clock=CLOCK).downloads_left == 0
    assert _code(lambda: paykit.redeem_download(session, token=link.token, clock=CLOCK)) == (
        "download_limit_reached"
    )
    assert _code(lambda: _link(session, actor, item)) == "download_limit_reached"
    session.refresh(item)
    assert item.download_count == 2


@pytest.mark.parametrize("limit", [None, -1])
def test_no_limit_means_unlimited(session: Session, limit: int | None) -> None:
    actor, item = _item(session, limit=limit)
    link = _link(session, actor, item)
    grants = [paykit.redeem_download(session, token=link.token, clock=CLOCK) for _ in range(5)]
    assert [g.download_count for g in grants] == [1, 2, 3, 4, 5]
    assert grants[-1].downloads_left is None


def test_a_link_expires(session: Session) -> None:
    actor, item = _item(session)
    link = _link(session, actor, item, ttl=timedelta(hours=1))
    later = FrozenClock(T0 + timedelta(hours=1))
    assert _code(lambda: paykit.redeem_download(session, token=link.token, clock=later)) == (
        "download_link_expired"
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.replace(".", ".9", 1),  # the expiry
        lambda t: "x" + t,  # another item id
        lambda t: "garbage",
        lambda t: "",
        lambda t: t + "." + t,
        lambda t: "a.1.nokey.sig",
    ],
)
def test_tampered_links_are_refused(session: Session, tamper: Any) -> None:
    actor, item = _item(session)
    link = _link(session, actor, item)
    code = _code(lambda: paykit.redeem_download(session, token=tamper(link.token), clock=CLOCK))
    assert code == "download_link_invalid"
    session.refresh(item)
    assert item.download_count == 0


def test_a_link_signed_by_another_keyring_is_refused(session: Session) -> None:
    actor, item = _item(session)
    with use_keyring(Keyring.generate("k1")):
        foreign = _link(session, actor, item)
    assert _code(lambda: paykit.redeem_download(session, token=foreign.token, clock=CLOCK)) == (
        "download_link_invalid"
    )


def test_links_survive_key_rotation(session: Session) -> None:
    actor, item = _item(session)
    link = _link(session, actor, item)
    rotated = KEYRING.with_key("k2", Keyring.generate("x").key("x"))
    with use_keyring(rotated):
        assert paykit.redeem_download(session, token=link.token, clock=CLOCK).download_count == 1


def test_a_full_refund_stops_links_and_a_partial_one_does_not(session: Session) -> None:
    actor, item = _item(session)
    link = _link(session, actor, item)
    order = session.get(m.Order, item.order_id)
    assert order is not None
    f.refund(session, order, Decimal("4.00"))
    assert paykit.redeem_download(session, token=link.token, clock=CLOCK).download_count == 1
    f.refund(session, order, Decimal("6.00"))  # the rest: the order is REFUNDED
    assert _code(lambda: paykit.redeem_download(session, token=link.token, clock=CLOCK)) == (
        "download_refunded"
    )
    assert _code(lambda: _link(session, actor, item)) == "download_refunded"


def test_access_expiry_and_unpaid_orders(session: Session) -> None:
    actor, item = _item(session, access_expires_at=T0 + timedelta(hours=2))
    link = _link(session, actor, item)  # valid for 24 hours
    before = FrozenClock(T0 + timedelta(hours=2) - timedelta(seconds=1))
    assert paykit.redeem_download(session, token=link.token, clock=before).download_count == 1
    at = FrozenClock(T0 + timedelta(hours=2))
    assert _code(lambda: paykit.redeem_download(session, token=link.token, clock=at)) == (
        "download_access_expired"
    )
    assert _code(lambda: _link(session, actor, item, clock=at)) == "download_access_expired"
    pending_actor, pending = _item(session, status=m.OrderStatus.PENDING)
    with pytest.raises(InvalidState) as caught:
        _link(session, pending_actor, pending)
    assert caught.value.code == "download_not_paid"


def test_only_the_buyer_or_staff_get_links(session: Session) -> None:
    _, item = _item(session)
    stranger = Actor.of(f.user(session))
    with pytest.raises(NotFound):
        _link(session, stranger, item)
    support = Actor.of(f.user(session, role=m.UserRole.SUPPORT))
    assert _link(session, support, item).order_item_id == item.id


def test_products_without_a_file_are_not_downloadable(session: Session) -> None:
    actor, item = _item(session, download_url=None)
    with pytest.raises(ValidationError) as caught:
        _link(session, actor, item)
    assert caught.value.code == "not_downloadable"


def test_links_need_a_keyring(session: Session) -> None:
    actor, item = _item(session)
    with use_keyring(None), pytest.raises(PaykitError) as caught:
        _link(session, actor, item)
    assert caught.value.code == "encryption_not_configured"


def test_parallel_redemptions_never_pass_the_limit(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        actor, item = _item(session, limit=3)
        token = _link(session, actor, item).token
    barrier = threading.Barrier(10)

    def redeem(_: int) -> str:
        barrier.wait(timeout=30)
        with use_keyring(KEYRING), Session(engine) as session, session.begin():
            try:
                paykit.redeem_download(session, token=token, clock=CLOCK)
            except PermissionDenied as exc:
                return exc.code
            return "granted"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(redeem, range(10)))
    assert outcomes.count("granted") == 3
    assert outcomes.count("download_limit_reached") == 7
    with Session(engine) as session:
        row = session.get(m.OrderItem, item.id)
        assert row is not None
        assert row.download_count == 3
