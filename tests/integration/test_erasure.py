"""Erasure: after delete_user, no column of any table still holds the user's personal data.

The scan is generic: every column of every table in paykit's metadata, read
as text straight from the database, searched for the user's name, e-mail,
phone and address. Only the columns paykit documents as retained
(``RETAINED_AFTER_ERASURE``: the addresses on orders, for bookkeeping) may
still hold them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import fixture, make_event, render_payment, sign

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import AuthenticationError
from paykit.gateways import FakeGateway
from paykit.security import Actor, Keyring, PasswordHasher, use_keyring
from paykit.services import users as svc
from paykit.services.erasure import RETAINED_AFTER_ERASURE
from paykit.services.subscriptions import ensure_gateway_customer
from paykit.webhooks import handle_webhook

FAST = PasswordHasher(rounds=4, allow_weak=True)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = int(T0.timestamp())
SECRET = "whsec_erasure"
NAME = "Zelda Quartermaine"
EMAIL = "zelda.quartermaine@example.com"
PHONE = "+1 555 0142 9876"
STREET = "742 Evergreen Terrace"
ADDRESS = {
    "name": NAME,
    "line1": STREET,
    "city": "Springfield",
    "postal_code": "49007",
    "country": "US",
}
NEEDLES = {"name": "quartermaine", "email": EMAIL, "phone": PHONE.lower(), "address": "evergreen"}


@pytest.fixture(autouse=True)
def keyring() -> Iterator[Keyring]:
    with use_keyring(Keyring.generate()) as ring:
        yield ring


def _findings(session: Session) -> dict[tuple[str, str], set[str]]:
    """(table, column) -> which needles it holds, over every column of every table."""
    found: dict[tuple[str, str], set[str]] = {}
    for table in m.Base.metadata.sorted_tables:
        for column in table.columns:
            text = sa.cast(sa.column(column.name), sa.Text())
            values = session.execute(
                sa.select(text).select_from(sa.table(table.name)).where(text.is_not(None))
            ).scalars()
            for value in values:
                lowered = str(value).lower()
                hits = {kind for kind, needle in NEEDLES.items() if needle in lowered}
                if hits:
                    found.setdefault((table.name, column.name), set()).update(hits)
    return found


def _deliver(session: Session, gateway: FakeGateway, clock: FrozenClock, event: Any) -> None:
    body = json.dumps(event).encode()
    response = handle_webhook(
        session,
        body,
        sign(body, SECRET, timestamp=NOW),
        secrets=[SECRET],
        gateway=gateway,
        clock=clock,
    )
    assert response.status_code == 200, response.body


def _billing_details() -> dict[str, Any]:
    return {
        "name": NAME,
        "email": EMAIL,
        "phone": PHONE,
        "address": {k: ADDRESS.get(k) for k in ("line1", "city", "postal_code", "country")},
        "tax_id": None,
    }


def test_delete_user_leaves_no_personal_data_outside_the_retained_columns(
    session: Session,
) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = svc.register_user(
        session,
        {"email": EMAIL, "password": "erase me please", "name": NAME, "phone": PHONE},
        hasher=FAST,
        clock=clock,
    )
    me = Actor.of(user)
    svc.update_profile(
        session,
        actor=me,
        user_id=user.id,
        changes={"first_name": "Zelda", "last_name": "Quartermaine", "billing_address": ADDRESS},
        clock=clock,
    )
    with pytest.raises(AuthenticationError):  # a failed login leaves an audit row and a counter
        svc.login(session, email=EMAIL, password="wrong password", hasher=FAST, clock=clock)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, base_price=Decimal("25.00"))
    order = paykit.place_order(
        session,
        customer_id=user.id,
        billing_address=ADDRESS,
        shipping_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=clock,
        idempotency_key="erasure-order",
    ).order
    assert order.stripe_payment_intent_id is not None

    # Webhook traffic carrying the card holder's details, and one about somebody else.
    method = fixture("payment_method")
    method.update(id="pm_zelda", customer=customer_id, billing_details=_billing_details())
    _deliver(session, gateway, clock, make_event("payment_method.attached", method, created=NOW))
    customer = fixture("customer")
    customer.update(
        id=customer_id,
        email=EMAIL,
        name=NAME,
        phone=PHONE,
        address=method["billing_details"]["address"],
    )
    _deliver(session, gateway, clock, make_event("customer.updated", customer, created=NOW + 1))
    payment = render_payment(gateway.retrieve_payment(order.stripe_payment_intent_id))
    payment.update(receipt_email=EMAIL, shipping={"name": NAME, "address": {"line1": STREET}})
    _deliver(
        session, gateway, clock, make_event("payment_intent.succeeded", payment, created=NOW + 2)
    )
    stranger = f.user(session)
    other = fixture("customer")
    other.update(id="cus_stranger", email=stranger.email, name="Somebody Else")
    stranger_event = make_event("customer.updated", other, created=NOW + 3)
    _deliver(session, gateway, clock, stranger_event)

    before = _findings(session)
    # The scan sees every copy (else it would prove nothing).
    assert before[("payment_methods", "billing_details")] == set(NEEDLES)
    assert before[("paykit_webhook_events", "payload")] == set(NEEDLES)
    assert {"name", "email"} <= before[("users", "email")] | before[("users", "name")]

    svc.delete_user(session, actor=me, user_id=user.id, clock=clock)
    session.flush()

    after = _findings(session)
    leaks = {where: kinds for where, kinds in after.items() if where not in RETAINED_AFTER_ERASURE}
    assert leaks == {}
    assert set(after) == set(RETAINED_AFTER_ERASURE)  # the documented exceptions, no more
    # Redaction kept what reconciliation needs, and left other customers' events alone.
    payloads = {row.event_id: row.payload for row in session.scalars(sa.select(m.WebhookEvent))}
    assert payloads[stranger_event["id"]] == stranger_event
    redacted = [p for e, p in payloads.items() if e != stranger_event["id"]]
    assert len(redacted) == 3
    assert {p["data"]["object"]["id"] for p in redacted} == {
        "pm_zelda",
        customer_id,
        order.stripe_payment_intent_id,
    }
    assert session.scalar(sa.select(sa.func.count()).select_from(m.PaymentMethod)) == 0
    audit = session.scalars(sa.select(m.AuditLog).where(m.AuditLog.action == "user.deleted")).one()
    assert audit.metadata_["payment_methods_deleted"] == 1
    assert audit.metadata_["webhook_events_redacted"] == 3
