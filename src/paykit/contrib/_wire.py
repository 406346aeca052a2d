"""The web adapters' framework-neutral route, request and response (for the route modules)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field

from paykit.errors import ValidationError
from paykit.schemas import validate
from paykit.schemas.base import StrictModel

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.orm import Session

    from paykit.contrib._http import PaykitHTTP

__all__ = ["Body", "PageQuery", "Request", "Response", "Route", "json_object", "with_body"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path (``{name}`` parameters), and the core's handler name."""

    name: str
    method: str
    path: str
    summary: str
    status: int = 200
    auth: bool = True
    max_body: int | None = None  # None: the adapter's max_body


class PageQuery(StrictModel):
    """A listing's query string: ``limit`` (1-100, default 20) and the ``cursor`` of the
    previous page; a listing with filters adds them in a subclass."""

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(min_length=1, max_length=512)] | None = None


@dataclass(frozen=True)
class Body:
    """A route's JSON body as its handler validates it: the model, for the OpenAPI schema.

    ``optional``: an empty body counts as ``{}``. ``from_server``: fields the
    adapter fills in itself and refuses in the body (the checkout's customer is
    the session's), left out of the documented schema.
    """

    model: type[BaseModel]
    optional: bool = False
    from_server: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        """The body's JSON schema, self-contained (its ``$defs`` inlined)."""
        schema = self.model.model_json_schema()
        defs = schema.pop("$defs", {})
        inlined: dict[str, Any] = _inline(schema, defs)
        for name in self.from_server:
            inlined.get("properties", {}).pop(name, None)
            if name in inlined.get("required", ()):
                inlined["required"] = [n for n in inlined["required"] if n != name]
        return inlined


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by ``X`` (no recursive models)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


@dataclass(frozen=True)
class Request:
    """One HTTP request as the core needs it; header names are matched case-insensitively."""

    method: str
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The header's value, or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Response:
    """What to send back: status, a JSON-safe body and its content type."""

    status: int
    body: Any
    content_type: str = "application/json"

    def json_bytes(self) -> bytes:
        """The body serialized as compact UTF-8 JSON."""
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``invalid_json``."""
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", code="invalid_json")
    return data


def with_body(
    core: PaykitHTTP,
    session: Session,
    request: Request,
    service: Callable[..., _T],
    body: type[BaseModel],
    *,
    optional: bool = False,
    **arguments: Any,
) -> _T:
    """``service`` called by the request's actor with ``arguments`` and the body's fields.

    The actor is checked first, then the JSON body is validated by ``body``
    (``optional``: an empty body is ``{}``); the service also gets the session
    and the core's clock: ``service(session, actor=..., clock=..., **arguments, **fields)``.
    """
    actor = core.actor(session, request)
    data = json_object(request.body) if not optional or request.body.strip() else {}
    fields = dict(validate(body, data))
    return service(session, actor=actor, clock=core.clock, **arguments, **fields)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
