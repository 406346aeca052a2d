"""Web framework adapters: paykit's checkout, orders, catalog, account and webhook endpoints.

``paykit.contrib.fastapi`` (extra ``paykit[fastapi]``) gives an ``APIRouter``,
``paykit.contrib.flask`` (extra ``paykit[flask]``) a ``Blueprint``; both are thin
shells over one framework-neutral core, :mod:`paykit.contrib._http`, which holds
the routes as data, the request parsing, the session-per-request transaction
and the mapping of :class:`paykit.errors.PaykitError` to RFC 9457
``application/problem+json`` responses (see docs/hosts/fastapi.md).

Importing this package imports no web framework.
"""

from __future__ import annotations

from paykit.contrib._http import (
    PaykitHTTP,
    Request,
    Response,
    Route,
    bearer_session,
    problem,
)

__all__ = ["PaykitHTTP", "Request", "Response", "Route", "bearer_session", "problem"]
