"""``FakeGateway``: Refunds, with the test-side steering of their outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from paykit.errors import GatewayError
from paykit.gateways._checks import (
    check_amount,
    check_metadata,
    check_refund_reason,
)
from paykit.gateways.base import (
    GatewayRefund,
    GatewayRefundStatus,
    PaymentIntentStatus,
)
from paykit.testing.fake.ledger import FakeLedger


class FakeRefunds(FakeLedger):
    """Refunds, with the test-side steering of their outcome."""

    def amount_refunded(self, payment_id: str) -> int:
        """Minor units refunded or pending refund on a payment (failed refunds excluded)."""
        with self._lock:
            self._payment(payment_id)
            return self._refunded(payment_id)

    def fail_next_refund(self, failure_reason: str = "declined") -> None:
        """Make the next refund come back ``failed`` with ``failure_reason``.

        Calls queue up: two calls fail the next two refunds. A failed refund does
        not count against the payment's refundable amount.
        """
        with self._lock:
            self._refund_plan.append((GatewayRefundStatus.FAILED, failure_reason))

    def hold_next_refund(self) -> None:
        """Make the next refund come back ``pending``; finish it with :meth:`settle_refund`."""
        with self._lock:
            self._refund_plan.append((GatewayRefundStatus.PENDING, None))

    def settle_refund(
        self, refund_id: str, *, succeeded: bool = True, failure_reason: str = "declined"
    ) -> GatewayRefund:
        """Move a ``pending`` refund to ``succeeded``, or to ``failed`` with ``failure_reason``."""
        with self._lock:
            refund = self._refund(refund_id)
            if refund.status is not GatewayRefundStatus.PENDING:
                raise GatewayError(
                    f"Refund {refund_id} is {refund.status}, not pending.",
                    code="refund_unexpected_state",
                    details={"refund_id": refund_id, "status": str(refund.status)},
                )
            if succeeded:
                settled = replace(refund, status=GatewayRefundStatus.SUCCEEDED)
            else:
                settled = replace(
                    refund, status=GatewayRefundStatus.FAILED, failure_reason=failure_reason
                )
            self._refunds[refund_id] = settled
            self._emit_refund("refund.updated" if succeeded else "refund.failed", settled)
            return settled

    def create_refund(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund part or all of a succeeded payment (``re_fake_...``).

        Comes back ``succeeded`` unless steered by :meth:`fail_next_refund` or
        :meth:`hold_next_refund`. Refunding more than is left raises
        ``GatewayError`` (``charge_already_refunded`` when nothing is left,
        ``refund_exceeds_payment`` otherwise).
        """
        self._begin(
            "create_refund",
            payment_id=payment_id,
            amount_minor=amount_minor,
            reason=reason,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        check_amount(amount_minor)
        check_refund_reason(reason)
        params = {
            "payment_id": payment_id,
            "amount_minor": amount_minor,
            "reason": reason,
            "metadata": check_metadata(metadata),
        }

        def action() -> GatewayRefund:
            payment = self._payment(payment_id)
            if payment.status is not PaymentIntentStatus.SUCCEEDED:
                raise self._payment_state(
                    payment,
                    f"PaymentIntent {payment_id} does not have a successful charge to refund.",
                )
            refundable = payment.amount_minor - self._refunded(payment_id)
            if refundable <= 0:
                raise GatewayError(
                    f"Charge for PaymentIntent {payment_id} has already been refunded.",
                    code="charge_already_refunded",
                    details={"payment_id": payment_id, "refundable_minor": 0},
                )
            if amount_minor > refundable:
                raise GatewayError(
                    f"Refund amount ({amount_minor}) is greater than unrefunded amount "
                    f"on charge ({refundable}).",
                    code="refund_exceeds_payment",
                    details={
                        "payment_id": payment_id,
                        "amount_minor": amount_minor,
                        "refundable_minor": refundable,
                    },
                )
            status, failure_reason = GatewayRefundStatus.SUCCEEDED, None
            if self._refund_plan:
                status, failure_reason = self._refund_plan.popleft()
            refund = GatewayRefund(
                id=self._next_id("re"),
                payment_id=payment_id,
                amount_minor=amount_minor,
                currency=payment.currency,
                status=status,
                reason=reason,
                failure_reason=failure_reason,
            )
            self._refunds[refund.id] = refund
            self._emit_refund("refund.created", refund)
            return refund

        return self._idempotent("create_refund", idempotency_key, params, action)

    def retrieve_refund(self, refund_id: str) -> GatewayRefund:
        """The refund as it is now."""
        self._enter("retrieve_refund", refund_id=refund_id)
        with self._lock:
            return self._refund(refund_id)

    def _refunded(self, payment_id: str) -> int:
        # Pending refunds count: the money is already on its way back.
        return sum(
            refund.amount_minor
            for refund in self._refunds.values()
            if refund.payment_id == payment_id
            and refund.status in (GatewayRefundStatus.SUCCEEDED, GatewayRefundStatus.PENDING)
        )
