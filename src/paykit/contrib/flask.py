"""paykit's endpoints as a Flask ``Blueprint`` (extra ``paykit[flask]``).

::

    from paykit.contrib.flask import paykit_blueprint

    app = Flask(__name__)
    app.register_blueprint(
        paykit_blueprint(engine, gateway=gateway, webhook_secrets=[secret]),
        url_prefix="/paykit",
    )

The same routes, parsing, transactions and problem+json answers as the FastAPI
adapter (both are shells over :mod:`paykit.contrib._http`). See docs/hosts/flask.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.contrib._http import (
    BODY_METHODS,
    DEFAULT_MAX_BODY,
    Authenticate,
    PaykitHTTP,
    Request,
    Response,
    Route,
    problem,
)
from paykit.errors import PaykitError
from paykit.gateways.base import PaymentGateway
from paykit.notifications.outbox import Notifier

__all__ = ["paykit_blueprint", "problem_response"]


def paykit_blueprint(
    bind: sa.Engine | Callable[[], Session],
    *,
    gateway: PaymentGateway,
    authenticate: Authenticate | None = None,
    clock: Clock | None = None,
    webhook_secrets: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    notifier: Notifier | None = None,
    name: str = "paykit",
) -> flask.Blueprint:
    """A ``Blueprint`` with paykit's endpoints (:data:`paykit.contrib._http.ROUTES`).

    The arguments are those of :class:`paykit.contrib.PaykitHTTP`; register it
    with the ``url_prefix`` of your choice. It also answers a ``PaykitError``
    raised by any of the app's views (a login, a registration) with problem+json.
    """
    core = PaykitHTTP(
        bind,
        gateway,
        authenticate=authenticate,
        clock=clock,
        webhook_secrets=tuple(webhook_secrets),
        max_body=max_body,
        notifier=notifier,
    )
    blueprint = flask.Blueprint(name, __name__)
    for route in core.routes:
        blueprint.add_url_rule(
            re.sub(r"\{(\w+)\}", r"<\1>", route.path),
            endpoint=route.name,
            view_func=_view(core, route),
            methods=[route.method],
        )
    blueprint.app_errorhandler(PaykitError)(problem_response)
    return blueprint


def problem_response(exc: PaykitError) -> flask.Response:
    """A Flask error handler: a ``PaykitError`` as an RFC 9457 problem."""
    return _response(problem(exc))


def _response(answer: Response) -> flask.Response:
    """The core's answer as Flask's response."""
    return flask.Response(
        answer.json_bytes(), status=answer.status, content_type=answer.content_type
    )


def _view(core: PaykitHTTP, route: Route) -> Callable[..., flask.Response]:
    def view(**params: str) -> flask.Response:
        request = flask.request
        body = b""
        if route.method in BODY_METHODS:
            length, limit = request.content_length, core.limit(route)
            if length is not None and length > limit:
                body = b"\0" * (limit + 1)
            else:
                body = request.stream.read(limit + 1)
        neutral = Request(
            route.method,
            params=params,
            query=request.args.to_dict(),
            headers=dict(request.headers),
            body=body,
            cookies=request.cookies.to_dict(),
        )
        return _response(core.dispatch(route, neutral))

    view.__name__ = f"paykit_{route.name}"
    return view
