"""The web adapters' overhead: paykit's routes against hand-written routes in the same app.

    python benchmarks/http_adapters.py [--repeat R] [--database URL]

Serves one FastAPI app (uvicorn) and one Flask app (Werkzeug, threaded) on
127.0.0.1, each with paykit's adapter mounted at /paykit and, beside it, a
hand-written route doing the same work the way a host would write it: a
session, the actor from a bearer token (``validate_session``), the service
call, a JSON answer. Measures over one keep-alive HTTP connection, R times
each (default 300), interleaved, with p50 and p99 in milliseconds:

* ``GET /orders/{id}``: ``get_order`` as the order's customer;
* ``POST /quote``: ``quote_order`` for a one-line cart.

A route answering a constant gives the floor of the server and transport
alone. It prints the ratios adapter / hand-written (what the adapter adds: the
neutral request, the body checks, its JSON encoding; for FastAPI also the
thread-pool hop the hand-written sync route makes too). The database is a
SQLite file in a temporary folder unless ``--database`` names another.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.http.conftest import (
    SERVERS,
    Shop,
    make_shop,
)

import paykit
from paykit.security.policy import Actor
from paykit.services.users.sessions import validate_session

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def _actor(session: Session, authorization: str | None, clock: Any) -> Actor:
    token = (authorization or "").removeprefix("Bearer ")
    return Actor.of(validate_session(session, token, clock=clock).user)


def _reference_fastapi(app: Any, shop: Shop) -> None:
    from fastapi import Header
    from fastapi.responses import JSONResponse

    @app.get("/ref/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/ref/orders/{order_id}")
    def get_order(order_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        with Session(shop.engine) as session, session.begin():
            actor = _actor(session, authorization, shop.clock)
            order = paykit.get_order(session, actor=actor, order_id=order_id)
            return JSONResponse(order.model_dump(mode="json"))

    @app.post("/ref/quote")
    def quote(body: dict[str, Any], authorization: str | None = Header(None)) -> JSONResponse:
        with Session(shop.engine) as session, session.begin():
            actor = _actor(session, authorization, shop.clock)
            q = paykit.quote_order(
                session, customer_id=actor.user_id, items=body["items"], clock=shop.clock
            )
            return JSONResponse({"total_amount": str(q.total_amount), "currency": q.currency})


def _reference_flask(app: Any, shop: Shop) -> None:
    from flask import jsonify, request

    @app.get("/ref/ping")
    def ping() -> Any:
        return jsonify({"ok": True})

    @app.get("/ref/orders/<order_id>")
    def get_order(order_id: str) -> Any:
        with Session(shop.engine) as session, session.begin():
            actor = _actor(session, request.headers.get("Authorization"), shop.clock)
            order = paykit.get_order(session, actor=actor, order_id=order_id)
            return jsonify(order.model_dump(mode="json"))

    @app.post("/ref/quote")
    def quote() -> Any:
        with Session(shop.engine) as session, session.begin():
            actor = _actor(session, request.headers.get("Authorization"), shop.clock)
            body = request.get_json()
            q = paykit.quote_order(
                session, customer_id=actor.user_id, items=body["items"], clock=shop.clock
            )
            return jsonify({"total_amount": str(q.total_amount), "currency": q.currency})


REFERENCES: dict[str, Callable[[Any, Shop], None]] = {
    "fastapi": _reference_fastapi,
    "flask": _reference_flask,
}


def _timed(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any, token: str
) -> float:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    start = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    assert response.status == 200, (path, response.status)
    return elapsed * 1000


def _stats(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples):6.2f} ms  p99 {cuts[98]:6.2f} ms"


def bench(framework: str, shop: Shop, token: str, order_id: str, repeat: int) -> None:
    build, serve = SERVERS[framework]
    app = build(shop.engine, shop.gateway, shop.clock)
    REFERENCES[framework](app, shop)
    cart = {"items": [{"price_id": shop.ids["price"], "quantity": 2}]}
    cases = {
        "GET /orders/{id}": ("GET", f"/orders/{order_id}", None),
        "POST /quote": ("POST", "/quote", cart),
    }
    server: AbstractContextManager[str] = serve(app)
    with server as base:
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.connect()
        # Without it, delayed ACKs add ~40 ms to every keep-alive request on Linux.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        floor = [_timed(conn, "GET", "/ref/ping", None, token) for _ in range(repeat)]
        print(f"{framework:8} {'GET /ping':18} constant    {_stats(floor)}  (the transport floor)")
        for name, (method, path, body) in cases.items():
            adapter: list[float] = []
            reference: list[float] = []
            for _ in range(20):  # warm up both
                _timed(conn, method, "/paykit" + path, body, token)
                _timed(conn, method, "/ref" + path, body, token)
            for _ in range(repeat):
                adapter.append(_timed(conn, method, "/paykit" + path, body, token))
                reference.append(_timed(conn, method, "/ref" + path, body, token))
            ratio = statistics.median(adapter) / statistics.median(reference)
            print(f"{framework:8} {name:18} adapter     {_stats(adapter)}")
            print(f"{framework:8} {name:18} hand-written {_stats(reference)}  ratio {ratio:.2f}")
        conn.close()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = args.database or f"sqlite:///{folder}/bench.db"
    engine = paykit.create_engine(url)
    paykit.migrate(engine)
    shop, tokens = make_shop(engine)
    with Session(engine) as session, session.begin():
        placed = paykit.place_order(
            session,
            customer_id=shop.ids["ada"],
            items=[{"price_id": shop.ids["price"], "quantity": 1}],
            billing_address=ADDRESS,
            gateway=shop.gateway,
            clock=shop.clock,
        )
        order_id = placed.order.id
    for framework in ("fastapi", "flask"):
        bench(framework, shop, tokens["ada"], order_id, args.repeat)
    engine.dispose()


if __name__ == "__main__":
    main()
