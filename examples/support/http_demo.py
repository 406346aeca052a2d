"""The client side of examples/fastapi_app.py and examples/flask_app.py (not host code).

Serves the example's app on a free port of 127.0.0.1 in a thread (uvicorn or
Werkzeug), then walks through the shop over real HTTP with ``urllib``:
register, log in, quote, check out by card, list orders, refund as the support
agent, check out without a card and let a signed Stripe webhook complete it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import paykit
from paykit.models import Price
from paykit.testing import signed_webhook

SECRET = "whsec_example"
ADDRESS = {"line1": "1 Analytical Way", "city": "London", "country": "GB"}


@contextmanager
def serve(framework: str, app: Any) -> Iterator[str]:
    """``app`` on a free local port, in a thread; yields its base URL."""
    if framework == "flask":
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
        return
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    userver = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    uthread = threading.Thread(target=userver.run, kwargs={"sockets": [sock]}, daemon=True)
    uthread.start()
    while not userver.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        userver.should_exit = True
        uthread.join(10)
        sock.close()


def call(base: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """One request; the decoded JSON answer (a problem+json answer raises, with its code)."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    sent = {
        "Content-Type": "application/json",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None


def demo(framework: str, create_app: Callable[..., Any], path: str) -> None:
    """Build the example's app on ``path`` with a FakeGateway, serve it and use it."""
    gateway = paykit.FakeGateway()
    app = create_app(f"sqlite:///{path}", gateway, SECRET)
    with serve(framework, app) as base:
        email = f"ada-{uuid.uuid4().hex[:8]}@example.com"  # a new customer on every run
        call(base, "POST", "/register", {"email": email, "password": "s3cret-pass", "name": "Ada"})
        ada = call(base, "POST", "/login", {"email": email, "password": "s3cret-pass"})["token"]
        agent = {"email": "agent@shop.test", "password": "agent-pass-1"}
        staff = call(base, "POST", "/login", agent)["token"]
        as_ada = {"Authorization": f"Bearer {ada}"}
        price_id = _price_id(path)
        cart = {"items": [{"price_id": price_id, "quantity": 2}]}
        quote = call(base, "POST", "/paykit/quote", cart, **as_ada)
        print(f"[{framework}] quote: 2 mugs = {quote['total_amount']} {quote['currency']}")
        order = call(
            base,
            "POST",
            "/paykit/checkout",
            {**cart, "billing_address": ADDRESS, "payment_method_id": "pm_card_visa"},
            Idempotency_Key=f"checkout-{uuid.uuid4().hex}",
            **as_ada,
        )
        print(f"[{framework}] checkout: order {order['order_number']} {order['status']}")
        mine = call(base, "GET", "/paykit/orders", **as_ada)["items"]
        print(f"[{framework}] orders of {email}: {[o['order_number'] for o in mine]}")
        refund = call(
            base,
            "POST",
            f"/paykit/orders/{order['id']}/refunds",
            {"amount": "5.00", "reason": "REQUESTED_BY_CUSTOMER"},
            Authorization=f"Bearer {staff}",
        )
        print(f"[{framework}] refund by the agent: {refund['amount']} {refund['status']}")
        pending = call(
            base, "POST", "/paykit/checkout", {**cart, "billing_address": ADDRESS}, **as_ada
        )
        gateway.drain_events()
        gateway.confirm_payment(
            pending["payment"]["payment_intent_id"],
            payment_method_id="pm_card_visa",
            idempotency_key=f"pay-{pending['id']}",
        )
        event = next(e for e in gateway.drain_events() if e["type"] == "payment_intent.succeeded")
        body, signature = signed_webhook(event, SECRET)
        call(base, "POST", "/paykit/webhooks/stripe", body, Stripe_Signature=signature)
        paid = call(base, "GET", f"/paykit/orders/{pending['id']}", **as_ada)
        print(f"[{framework}] webhook: order {paid['order_number']} is now {paid['status']}")


def _price_id(path: str) -> str:
    """The mug's price id, from the example's database (a real shop has a catalog page)."""
    engine = paykit.create_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        price_id = session.scalar(select(Price.id).where(Price.stripe_price_id == "price_mug"))
    engine.dispose()
    assert price_id is not None
    return price_id
