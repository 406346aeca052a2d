"""``BillingNotice``: what a host tells its customer about billing, as plain data.

paykit sends no e-mail. The dunning and trial jobs return notices; the host
renders and delivers them (and may store them to send once). Each has a
stable ``key`` a host can use as its own idempotency key for the delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["NOTICE_KINDS", "BillingNotice"]

NOTICE_KINDS = (
    "payment_failed",
    "payment_succeeded",
    "grace_period_ended",
    "trial_will_end",
    "trial_ended",
)
"""Every ``BillingNotice.kind``, in the order a customer may meet them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingNotice:
    """One thing to tell a customer about a subscription.

    ``kind`` is one of :data:`NOTICE_KINDS`. ``due_at`` is the time the notice
    is about: the next retry (``payment_failed``), the trial's end
    (``trial_will_end``), when access ended (``grace_period_ended``).
    ``amount`` is set where money is involved. ``details`` holds the rest
    (``attempt``, ``outcome``, ...).
    """

    kind: str
    subscription_id: str
    user_id: str
    occurred_at: datetime
    due_at: datetime | None = None
    amount: Decimal | None = None
    currency: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable identity for the delivery: the same event gives the same key."""
        moment = (self.due_at or self.occurred_at).isoformat()
        attempt = self.details.get("attempt", "")
        return f"{self.kind}:{self.subscription_id}:{moment}:{attempt}"
