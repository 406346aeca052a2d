"""The request bodies the OpenAPI schema shows are the ones the handlers validate.

The endpoints read the raw body themselves (for the size limit and paykit's own
errors), so FastAPI cannot infer their bodies: ``paykit.contrib._http.BODIES``
names each route's model and the FastAPI adapter shows it. These tests keep
that table honest: every route that takes a body is in it (or reads none, by
name below), and each documented model is the one its handler enforces: a
body with an unknown field is refused naming exactly the documented required
fields as missing, and the field as forbidden.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories

import paykit
from paykit import models as m
from paykit.contrib._http import BODIES, BODY_METHODS, ROUTES, PaykitHTTP, Request
from paykit.contrib._wire import Route
from paykit.testing import FakeGateway

#: Routes that take POST but read no body: the path names everything (or, for
#: the webhook, the body is Stripe's signed event, not a paykit model).
READS_NO_BODY = {
    "resume_subscription",
    "start_payment_method_setup",
    "set_default_payment_method",
    "download_link",
    "webhook",
}

_BODY_ROUTES = [r for r in ROUTES if r.name in BODIES]


def test_every_route_that_takes_a_body_documents_it() -> None:
    takes_body = {r.name for r in ROUTES if r.method in BODY_METHODS}
    assert set(BODIES) | READS_NO_BODY == takes_body
    assert set(BODIES) & READS_NO_BODY == set()


def test_the_openapi_schema_shows_each_documented_body() -> None:
    import sqlalchemy as sa
    from fastapi import FastAPI

    from paykit.contrib.fastapi import mount_paykit

    app = FastAPI()
    mount_paykit(app, sa.create_engine("sqlite://"), gateway=FakeGateway())
    paths = app.openapi()["paths"]
    for route in ROUTES:
        operation = paths["/paykit" + route.path][route.method.lower()]
        body = BODIES.get(route.name)
        if body is None:
            assert "requestBody" not in operation, route.name
            continue
        shown = operation["requestBody"]
        assert shown["required"] is not body.optional, route.name
        schema = shown["content"]["application/json"]["schema"]
        # FastAPI normalizes the schema it is given (defaults, key order): compare
        # what a client generator reads, the fields and which are required.
        documented = body.json_schema()
        assert set(schema["properties"]) == set(documented["properties"]), route.name
        assert set(schema.get("required", ())) == set(documented.get("required", ())), route.name
        assert "$ref" not in repr(schema), route.name  # self-contained
        for field in body.from_server:
            assert field not in schema.get("properties", {}), route.name


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> PaykitHTTP:
    path = Path(tmp_path_factory.mktemp("openapi")) / "paykit.db"
    engine = paykit.create_engine(f"sqlite:///{path}")
    paykit.migrate(engine)
    with Session(engine) as session, session.begin():
        admin_id = factories.user(session, role=m.UserRole.ADMIN).id

    def authenticate(session: Session, request: Request) -> m.User | None:
        return session.get(m.User, admin_id)

    return PaykitHTTP(engine, FakeGateway(), authenticate=authenticate)


def _call(core: PaykitHTTP, route: Route, body: bytes) -> tuple[int, dict[str, Any]]:
    params = dict.fromkeys(re.findall(r"{(\w+)}", route.path), "x")
    answer = core.dispatch(route, Request(route.method, params=params, body=body))
    return answer.status, answer.body


@pytest.mark.parametrize("route", _BODY_ROUTES, ids=lambda r: r.name)
def test_the_handler_enforces_the_documented_model(core: PaykitHTTP, route: Route) -> None:
    documented = BODIES[route.name].json_schema()
    status, problem = _call(core, route, b'{"paykit_probe": 1}')
    assert (status, problem["code"]) == (422, "validation_error"), problem
    errors = {(tuple(e["loc"]), e["type"]) for e in problem["errors"]}
    missing = {loc[0] for loc, kind in errors if kind == "missing"}
    assert missing == set(documented.get("required", ())), problem["errors"]
    assert (("paykit_probe",), "extra_forbidden") in errors


@pytest.mark.parametrize("route", _BODY_ROUTES, ids=lambda r: r.name)
def test_an_empty_body_is_refused_unless_documented_optional(
    core: PaykitHTTP, route: Route
) -> None:
    status, problem = _call(core, route, b"")
    if BODIES[route.name].optional:
        # Taken as {}: the call goes on to the row the path names, which is not there.
        assert (status, problem["code"]) == (404, "not_found"), problem
    else:
        assert (status, problem["code"]) == (400, "invalid_json"), problem
