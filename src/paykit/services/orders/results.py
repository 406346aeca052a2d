"""What the order services return to a host."""

from __future__ import annotations

from dataclasses import dataclass

from paykit.gateways.base import GatewayPayment
from paykit.models import Order

__all__ = ["OrderResult", "PaymentInfo"]


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """The gateway payment behind an order, as far as a host's checkout page needs it."""

    id: str | None
    status: str
    client_secret: str | None = None
    decline_code: str | None = None

    @classmethod
    def from_gateway(cls, payment: GatewayPayment) -> PaymentInfo:
        """Build from the gateway's result."""
        return cls(payment.id, str(payment.status), payment.client_secret, payment.decline_code)


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What :func:`place_order` returns: the order and its payment."""

    order: Order
    payment: PaymentInfo
    replayed: bool = False
