"""paykit billing: save a card, pay an invoice, start a subscription through hosted checkout.

Runs offline against FakeGateway (swap in ``paykit.gateways.StripeGateway`` in
production); webhooks are delivered the way Stripe would send them. Run it as
a plain script:

    python examples/billing.py [path/to/database.db]
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import paykit
from paykit.models import Price, PriceType, Product, ProductStatus, ProductType, User
from paykit.testing import FakeGateway, FrozenClock, sign_webhook

SECRET = "whsec_example"


def deliver(engine: Engine, gateway: FakeGateway, clock: FrozenClock) -> None:
    """Send each event the gateway produced to paykit's webhook handler, one transaction each."""
    for event in gateway.drain_events():
        body = json.dumps(event).encode()
        header = sign_webhook(body, SECRET, int(clock.now().timestamp()))
        with Session(engine) as session, session.begin():
            answer = paykit.handle_webhook(
                session, body, header, secrets=SECRET, gateway=gateway, clock=clock
            )
        assert answer.status_code == 200, answer.body


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "billing.db"
    engine = paykit.create_engine(f"sqlite:///{path}")
    paykit.migrate(engine)
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    gateway = FakeGateway(clock=clock)
    stripe_price = gateway.add_price(unit_amount=2900, currency="usd", interval="month")

    with Session(engine) as session, session.begin():
        ada = User(email=f"ada-{stripe_price}@example.com", name="Ada")
        plan = Product(
            name="Pro plan",
            description="Everything, every month.",
            slug=f"pro-{stripe_price}",
            type=ProductType.SUBSCRIPTION,
            status=ProductStatus.PUBLISHED,
            base_price=Decimal("29.00"),
        )
        plan.prices.append(
            Price(
                stripe_price_id=stripe_price,
                unit_amount=Decimal("29.00"),
                type=PriceType.RECURRING,
                recurring={"interval": "month", "interval_count": 1},
            )
        )
        session.add_all([ada, plan])
        session.flush()
        user_id, price_id = ada.id, plan.prices[0].id
    actor = paykit.Actor(user_id, "CUSTOMER")  # the logged-in customer, as your host knows them

    # 1. Save a card: the browser confirms the SetupIntent with its client secret.
    with Session(engine) as session, session.begin():
        intent = paykit.start_payment_method_setup(
            session, user_id=user_id, gateway=gateway, actor=actor, clock=clock
        )
    print(f"setup intent {intent.id}: hand {intent.client_secret[:12]}... to Stripe.js")
    gateway.confirm_setup_intent(
        intent.id, payment_method_id="pm_card_visa", idempotency_key="browser-confirm"
    )
    deliver(engine, gateway, clock)  # setup_intent.succeeded stores the card
    with Session(engine) as session, session.begin():
        (card,) = paykit.list_payment_methods(session, user_id=user_id, actor=actor)
        paykit.set_default_payment_method(
            session, payment_method_id=card.id, gateway=gateway, actor=actor, clock=clock
        )
        print(f"saved {card.card['brand']} *{card.card['last4']}, valid until {card.expires_at}")

    # 2. Hosted checkout for the subscription; Stripe sends checkout.session.completed.
    with Session(engine) as session, session.begin():
        checkout = paykit.create_checkout_session(
            session,
            user_id=user_id,
            mode="subscription",
            price_id=price_id,
            success_url="https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
            cancel_url="https://shop.example/pricing",
            gateway=gateway,
            actor=actor,
            clock=clock,
        )
    print(f"send the customer to {checkout.url}")
    sub = gateway.complete_checkout_session(checkout.id).subscription_id
    deliver(engine, gateway, clock)

    # 3. An open invoice (Stripe's billing engine makes these) is shown and paid.
    customer = gateway.retrieve_checkout_session(checkout.id).customer_id or ""
    gateway.add_invoice(
        customer_id=customer,
        subscription_id=sub,
        lines=[{"amount": 2900, "description": "Pro plan, March"}],
        discount=500,
    )
    deliver(engine, gateway, clock)
    with Session(engine) as session, session.begin():
        (invoice,) = paykit.list_invoices(session, user_id=user_id, actor=actor)
        view = paykit.get_invoice(session, invoice_id=invoice.id, actor=actor)
        for line in view.lines:
            print(f"  {line.description}: {line.amount} {line.currency}")
        print(f"invoice {invoice.number}: total {invoice.total}, discount {invoice.discount}")
        paid = paykit.pay_invoice(
            session, invoice_id=invoice.id, gateway=gateway, actor=actor, clock=clock
        )
        print(f"invoice {paid.number} is {paid.status.value}, paid {paid.amount_paid}")
    deliver(engine, gateway, clock)
    engine.dispose()


if __name__ == "__main__":
    main()
