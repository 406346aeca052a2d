"""What every webhook handler receives besides the session and the event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.gateways.base import PaymentGateway
from paykit.models import WebhookEventStatus
from paykit.services._audit import record_audit

__all__ = ["Handler", "HandlerContext", "outcome"]


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """The gateway, the clock and the request a delivery is applied with."""

    gateway: PaymentGateway
    clock: Clock
    request: RequestContext | None

    def audit(
        self,
        session: Session,
        action: str,
        resource: str,
        resource_id: str,
        *,
        actor_id: str | None = None,
        old: Mapping[str, Any] | None = None,
        new: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        """The audit row of what a delivery changed: at ``now`` (default the clock's
        now), with the delivery's request context."""
        record_audit(
            session,
            action=action,
            resource=resource,
            resource_id=resource_id,
            now=self.clock.now() if now is None else now,
            actor_id=actor_id,
            old=old,
            new=new,
            context=self.request,
        )


Handler = Callable[[Session, Mapping[str, Any], HandlerContext], WebhookEventStatus]
"""A handler applies one event in the caller's SAVEPOINT and says what it did."""


def outcome(row: object | None) -> WebhookEventStatus:
    """A delivery that found its row was ``PROCESSED``; one that found none, ``IGNORED``."""
    return WebhookEventStatus.IGNORED if row is None else WebhookEventStatus.PROCESSED
