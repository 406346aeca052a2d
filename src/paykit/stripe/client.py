"""One Stripe account's HTTP API: requests in, plain dicts or paykit errors out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from paykit.stripe.errors import raise_for

__all__ = ["StripeApi"]


class StripeApi:
    """Requests through a ``stripe.StripeClient``; Stripe's exceptions never escape it."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        object_id: str | None = None,
    ) -> dict[str, Any]:
        """One request; returns the JSON body as plain dicts, or raises a paykit error."""
        options: dict[str, Any] = dict(params or {})
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        try:
            response = self._send(method, path, options)
        except stripe.StripeError as exc:
            raise_for(exc, object_id)
        data = response.data
        assert isinstance(data, dict)
        return data

    def _send(self, method: str, path: str, options: dict[str, Any]) -> stripe.StripeResponse:
        """The SDK request itself (the async API awaits its async twin here)."""
        response: stripe.StripeResponse = self._client.raw_request(method, path, **options)
        return response

    def post(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        idempotency_key: str,
        object_id: str | None = None,
    ) -> dict[str, Any]:
        """A POST under the caller's idempotency key."""
        return self.call("post", path, params, idempotency_key=idempotency_key, object_id=object_id)

    def post_to(
        self,
        collection: str,
        object_id: str,
        params: Mapping[str, Any],
        *,
        idempotency_key: str,
        action: str = "",
    ) -> dict[str, Any]:
        """``POST /v1/{collection}/{object_id}{action}``: a change to one object, which a
        ``NotFound`` then names."""
        return self.post(
            f"/v1/{collection}/{object_id}{action}",
            params,
            idempotency_key=idempotency_key,
            object_id=object_id,
        )

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, object_id: str | None = None
    ) -> dict[str, Any]:
        """A GET."""
        return self.call("get", path, params, object_id=object_id)
