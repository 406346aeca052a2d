"""paykit's endpoints as a FastAPI ``APIRouter`` (extra ``paykit[fastapi]``).

::

    from paykit.contrib.fastapi import mount_paykit

    app = FastAPI()
    mount_paykit(app, engine, gateway=gateway, webhook_secrets=[secret])

Each endpoint reads the raw body (at most ``max_body`` bytes) on the event loop
and runs paykit's synchronous services in the thread pool, so a database or
gateway round trip never blocks the loop. See docs/hosts/fastapi.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import fastapi
import sqlalchemy as sa
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from paykit.clock import Clock
from paykit.contrib._http import (
    BODIES,
    BODY_METHODS,
    DEFAULT_MAX_BODY,
    PROBLEM_JSON,
    Authenticate,
    PaykitHTTP,
    Request,
    Response,
    Route,
    problem,
)
from paykit.contrib._models import (
    DeletedOut,
    DetachedOut,
    DownloadLinkOut,
    PaymentMethodListOut,
    PaymentMethodViewOut,
    PriceAdminOut,
    SetupIntentOut,
    SubscriptionViewOut,
)
from paykit.errors import PaykitError
from paykit.gateways.base import PaymentGateway
from paykit.notifications.outbox import Notifier
from paykit.services.admin import DiscountOut
from paykit.services.catalog.out import ProductOut, ProductView, UserSubscriptionsOut
from paykit.services.reads import OrderOut, Page
from paykit.services.reviews import ReviewOut

__all__ = ["mount_paykit", "paykit_router", "problem_handler"]

#: What the OpenAPI schema shows each route answering with.
_MODELS: dict[str, Any] = {
    "checkout": OrderOut,
    "get_order": OrderOut,
    "list_orders": Page[OrderOut],
    "list_products": Page[ProductOut],
    "get_product": ProductView,
    "get_product_by_slug": ProductView,
    "list_subscriptions": UserSubscriptionsOut,
    "start_subscription": SubscriptionViewOut,
    "change_subscription": SubscriptionViewOut,
    "cancel_subscription": SubscriptionViewOut,
    "resume_subscription": SubscriptionViewOut,
    "start_payment_method_setup": SetupIntentOut,
    "list_payment_methods": PaymentMethodListOut,
    "set_default_payment_method": PaymentMethodViewOut,
    "detach_payment_method": DetachedOut,
    "download_link": DownloadLinkOut,
    "list_reviews": Page[ReviewOut],
    "create_review": ReviewOut,
    "edit_review": ReviewOut,
    "delete_review": DeletedOut,
    "hide_review": ReviewOut,
    "admin_create_product": ProductView,
    "admin_update_product": ProductView,
    "admin_create_price": PriceAdminOut,
    "admin_update_price": PriceAdminOut,
    "admin_list_discounts": Page[DiscountOut],
    "admin_create_discount": DiscountOut,
    "admin_update_discount": DiscountOut,
}
_PROBLEM = {"description": "An RFC 9457 problem", "content": {PROBLEM_JSON: {}}}


def paykit_router(
    bind: sa.Engine | Callable[[], Session],
    *,
    gateway: PaymentGateway,
    authenticate: Authenticate | None = None,
    clock: Clock | None = None,
    webhook_secrets: Sequence[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    notifier: Notifier | None = None,
    prefix: str = "",
    tags: Sequence[str] = ("paykit",),
) -> fastapi.APIRouter:
    """An ``APIRouter`` with paykit's endpoints (:data:`paykit.contrib._http.ROUTES`).

    ``bind``, ``gateway``, ``authenticate``, ``clock``, ``webhook_secrets`` and
    ``max_body``, ``notifier`` are those of :class:`paykit.contrib.PaykitHTTP`.
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
    router = fastapi.APIRouter(prefix=prefix, tags=list(tags))
    for route in core.routes:
        model = _MODELS.get(route.name)
        responses: dict[int | str, dict[str, Any]] = {"4XX": _PROBLEM}
        if model is not None:
            responses[route.status] = {"model": model}
        router.add_api_route(
            route.path,
            _endpoint(core, route),
            methods=[route.method],
            summary=route.summary,
            name=f"paykit_{route.name}",
            status_code=route.status,
            responses=responses,
            openapi_extra=_request_body(route.name),
        )
    return router


def _request_body(name: str) -> dict[str, Any] | None:
    """The route's ``requestBody`` for the OpenAPI schema (the endpoint reads the raw body
    itself, so FastAPI cannot infer it), from :data:`paykit.contrib._http.BODIES`."""
    body = BODIES.get(name)
    if body is None:
        return None
    content = {"application/json": {"schema": body.json_schema()}}
    return {"requestBody": {"required": not body.optional, "content": content}}


def mount_paykit(
    app: fastapi.FastAPI,
    bind: sa.Engine | Callable[[], Session],
    *,
    prefix: str = "/paykit",
    **options: Any,
) -> fastapi.APIRouter:
    """Include :func:`paykit_router` in ``app`` under ``prefix``; returns the router.

    Also installs :func:`problem_handler` for ``PaykitError``, so the host's own
    routes that call paykit (a login, a registration) answer with problem+json too.
    """
    router = paykit_router(bind, prefix=prefix, **options)
    app.include_router(router)
    app.add_exception_handler(PaykitError, problem_handler)
    return router


async def problem_handler(request: fastapi.Request, exc: Exception) -> fastapi.Response:
    """A FastAPI exception handler: a ``PaykitError`` as an RFC 9457 problem."""
    if not isinstance(exc, PaykitError):
        raise exc
    return _response(problem(exc))


def _response(answer: Response) -> fastapi.Response:
    """The core's answer as FastAPI's response."""
    return fastapi.Response(
        answer.json_bytes(), status_code=answer.status, media_type=answer.content_type
    )


def _endpoint(core: PaykitHTTP, route: Route) -> Callable[[fastapi.Request], Any]:
    async def endpoint(request: fastapi.Request) -> fastapi.Response:
        body = await _read(request, core.limit(route)) if route.method in BODY_METHODS else b""
        neutral = Request(
            route.method,
            params=dict(request.path_params),
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=body,
            cookies=dict(request.cookies),
        )
        return _response(await run_in_threadpool(core.dispatch, route, neutral))

    endpoint.__name__ = f"paykit_{route.name}"
    return endpoint


async def _read(request: fastapi.Request, limit: int) -> bytes:
    """The body, or its first ``limit + 1`` bytes (which the core refuses as too large)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return b"\0" * (limit + 1)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)
