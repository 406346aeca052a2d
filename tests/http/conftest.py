"""Real HTTP servers for the web adapters: uvicorn (FastAPI) and Werkzeug (Flask) on 127.0.0.1.

Each test gets a migrated database of its own (the adapters commit), a shop in
it (two customers, a support agent, a product with stock, session tokens), and
a server on a free port in a thread, which it talks to with ``urllib``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories

from paykit import models as m
from paykit.security.tokens import hash_token
from paykit.testing import FakeGateway, FrozenClock

SECRET = "whsec_http_adapters_test"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class Answer:
    """One HTTP answer: status, content type, the decoded JSON body."""

    status: int
    content_type: str
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


_ANNOUNCE_OVER = 256 * 1024  # bodies larger than this are sent headers-first


@dataclass
class Client:
    """Talks to one running server over real HTTP."""

    base: str
    tokens: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        who: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = raw if raw is not None else None
        if payload is not None:
            data = json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        if data is not None and len(data) > _ANNOUNCE_OVER:
            return self._announced(method, path, data, sent)
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, ctype, text = (
                    response.status,
                    response.headers["Content-Type"],
                    response.read(),
                )
        except urllib.error.HTTPError as exc:
            status, ctype, text = exc.code, exc.headers.get("Content-Type", ""), exc.read()
        return Answer(status, ctype or "", json.loads(text) if text else None)

    def _announced(self, method: str, path: str, data: bytes, sent: dict[str, str]) -> Answer:
        """Send a large body's headers first; send the body only if the server waits for it.

        A server that refuses by ``Content-Length`` answers and closes without
        reading the body, and a client still writing megabytes then gets
        ``ECONNRESET`` instead of the answer (a race on the socket buffers, seen
        with uvicorn). Waiting briefly for an early answer is what a careful
        client does (it is the idea of ``Expect: 100-continue``).
        """
        where = urlsplit(self.base)
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
        try:
            conn.putrequest(method, where.path + path)
            for name, value in {**sent, "Content-Length": str(len(data))}.items():
                conn.putheader(name, value)
            conn.endheaders()
            assert conn.sock is not None
            early, _, _ = select.select([conn.sock], [], [], 2.0)
            if not early:
                # A server that answers meanwhile closes: read that answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    conn.send(data)
            response = conn.getresponse()
            text = response.read()
            return Answer(
                response.status,
                response.headers.get("Content-Type", ""),
                json.loads(text) if text else None,
            )
        finally:
            conn.close()


@dataclass
class Shop:
    """The database, gateway and clock behind a server, and the rows the tests use."""

    engine: Engine
    gateway: FakeGateway
    clock: FrozenClock
    ids: dict[str, str]

    def counts(self) -> dict[str, int]:
        """Rows per table: what a refused request must leave as it was."""
        names = sa.inspect(self.engine).get_table_names()
        with self.engine.connect() as conn:
            return {
                name: conn.execute(
                    sa.select(sa.func.count()).select_from(sa.table(name))
                ).scalar_one()
                for name in names
            }

    def order(self, order_id: str) -> m.Order:
        with Session(self.engine) as session:
            row = session.get(m.Order, order_id)
            assert row is not None
            session.expunge(row)
            return row


def add_admin(shop: Shop, client: Client) -> None:
    """An ADMIN user ``root`` with a session token in ``client`` (``shop.ids["root"]``)."""
    with Session(shop.engine) as session, session.begin():
        root = factories.user(session, role=m.UserRole.ADMIN)
        client.tokens["root"] = session_token(session, root.id, T0)
        shop.ids["root"] = root.id


def session_token(session: Session, user_id: str, now: datetime) -> str:
    """A paykit login session for ``user_id``, valid for a day from ``now``; its bearer token."""
    token = f"token-{uuid.uuid4().hex}"
    expires = now + timedelta(days=1)
    session.add(m.Session(user_id=user_id, token=hash_token(token), expires_at=expires))
    session.flush()
    return token


def make_shop(engine: Engine) -> tuple[Shop, dict[str, str]]:
    """Customers ``ada`` and ``bob``, agent ``grace``, a mug with stock; their tokens."""
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    with Session(engine) as session, session.begin():
        users = {
            "ada": factories.user(session),
            "bob": factories.user(session),
            "grace": factories.user(session, role=m.UserRole.SUPPORT),
        }
        tokens = {who: session_token(session, user.id, T0) for who, user in users.items()}
        mug = factories.product(
            session, base_price=Decimal("12.50"), track_inventory=True, stock_quantity=10
        )
        price = factories.price(session, mug)
        ids = {who: user.id for who, user in users.items()}
        ids |= {"price": price.id, "product": mug.id}
    return Shop(engine, gateway, clock, ids), tokens


@contextmanager
def serve_fastapi(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free local port; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def serve_flask(app: Any) -> Iterator[str]:
    """``app`` under Werkzeug's threaded server on a free local port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def fastapi_app(bind: Any, gateway: Any, clock: Any, secret: str = SECRET, **options: Any) -> Any:
    """A FastAPI app with paykit mounted at /paykit."""
    from fastapi import FastAPI

    from paykit.contrib.fastapi import mount_paykit

    app = FastAPI()
    mount_paykit(app, bind, gateway=gateway, clock=clock, webhook_secrets=[secret], **options)
    return app


def flask_app(bind: Any, gateway: Any, clock: Any, secret: str = SECRET, **options: Any) -> Any:
    """A Flask app with paykit's blueprint registered at /paykit."""
    from flask import Flask

    from paykit.contrib.flask import paykit_blueprint

    app = Flask(__name__)
    blueprint = paykit_blueprint(
        bind, gateway=gateway, clock=clock, webhook_secrets=[secret], **options
    )
    app.register_blueprint(blueprint, url_prefix="/paykit")
    return app


SERVERS: dict[str, tuple[Callable[..., Any], Callable[[Any], Any]]] = {
    "fastapi": (fastapi_app, serve_fastapi),
    "flask": (flask_app, serve_flask),
}


@pytest.fixture(params=sorted(SERVERS))
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shop_and_client(fresh_engine: Engine, framework: str) -> Iterator[tuple[Shop, Client]]:
    shop, tokens = make_shop(fresh_engine)
    build, serve = SERVERS[framework]
    with serve(build(shop.engine, shop.gateway, shop.clock, max_body=16 * 1024)) as base:
        yield shop, Client(base + "/paykit", tokens)
