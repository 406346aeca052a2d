"""What every webhook handler receives besides the session and the event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.gateways.base import PaymentGateway
from paykit.models import WebhookEventStatus

__all__ = ["Handler", "HandlerContext"]


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """The gateway, the clock and the request a delivery is applied with."""

    gateway: PaymentGateway
    clock: Clock
    request: RequestContext | None


Handler = Callable[[Session, Mapping[str, Any], HandlerContext], WebhookEventStatus]
"""A handler applies one event in the caller's SAVEPOINT and says what it did."""
