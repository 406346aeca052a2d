"""A Flask shop: registration, login, quote, checkout, orders, refunds and the Stripe webhook.

    python examples/flask_app.py [shop.db]            # serve it, drive it over HTTP, exit
    python examples/flask_app.py shop.db --serve      # serve on http://127.0.0.1:5000

Everything above the "client" line is the host application (the part a host
writes: 60 lines at most, tests/http/test_examples.py counts them); below it is
a client that exercises the app over real HTTP. With STRIPE_SECRET_KEY set the
app charges through Stripe, otherwise through paykit's in-memory FakeGateway.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from flask import Flask, request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import paykit
from paykit.contrib.flask import paykit_blueprint
from paykit.models import Price, PriceType, Product, ProductStatus, ProductType, UserRole

PRICE = Decimal("12.50")


def gateway() -> paykit.PaymentGateway:
    if key := os.environ.get("STRIPE_SECRET_KEY"):
        return paykit.StripeGateway(api_key=key)
    return paykit.FakeGateway()


def seed(engine: Engine) -> None:
    """A mug on sale and a support agent who may refund (idempotent)."""
    with Session(engine) as session, session.begin():
        if session.scalar(select(Product).where(Product.slug == "mug")) is None:
            mug = Product(
                name="Mug",
                description="Holds coffee.",
                slug="mug",
                base_price=PRICE,
                type=ProductType.ONE_TIME,
                status=ProductStatus.PUBLISHED,
            )
            session.add(
                Price(
                    product=mug,
                    unit_amount=PRICE,
                    stripe_price_id="price_mug",
                    type=PriceType.ONE_TIME,
                )
            )
            agent = {"email": "agent@shop.test", "password": "agent-pass-1", "name": "Agent"}
            paykit.register_user(session, agent).role = UserRole.SUPPORT


def create_app(url: str, payments: paykit.PaymentGateway, webhook_secret: str) -> Flask:
    engine = paykit.create_engine(url)
    paykit.migrate(engine)
    seed(engine)
    app = Flask("shop")
    blueprint = paykit_blueprint(engine, gateway=payments, webhook_secrets=[webhook_secret])
    app.register_blueprint(blueprint, url_prefix="/paykit")

    @app.post("/register")
    def register() -> tuple[dict[str, str], int]:
        with Session(engine) as session, session.begin():
            return {"id": paykit.register_user(session, request.get_json()).id}, 201

    @app.post("/login")
    def login() -> dict[str, str]:
        body = request.get_json()
        with Session(engine) as session, session.begin():
            return {
                "token": paykit.login(session, email=body["email"], password=body["password"]).token
            }

    return app


if __name__ == "__main__" and "--serve" in sys.argv:
    create_app(f"sqlite:///{sys.argv[1]}", gateway(), os.environ["WEBHOOK_SECRET"]).run()

# ---- client: not host code; drives the app over real HTTP, then exits ----
if __name__ == "__main__" and "--serve" not in sys.argv:
    from support.http_demo import demo  # examples/support/http_demo.py

    demo("flask", create_app, sys.argv[1] if len(sys.argv) > 1 else "shop.db")
