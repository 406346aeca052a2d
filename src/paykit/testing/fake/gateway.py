"""``FakeGateway``: the in-memory gateway, composed of one mixin per concern.

Shipped in the library (not only in paykit's tests) so that the demo, the CLI
and host applications' own test suites can run the full payment flow without
a network. Scenarios are steered the way they are against Stripe's test mode:
by the payment method id (``pm_card_visa``, ``pm_card_chargeDeclined``, ...),
plus two ids of its own for transport failures. ``docs/gateways.md`` has the
full table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paykit.testing.fake.payments import FakePayments
from paykit.testing.fake.refunds import FakeRefunds
from paykit.testing.fake.renewal_billing import FakeRenewalBilling

if TYPE_CHECKING:
    from paykit.gateways._complete import CompleteGateway

__all__ = ["FakeGateway"]


class FakeGateway(FakePayments, FakeRefunds, FakeRenewalBilling):
    """An in-memory :class:`~paykit.gateways.PaymentGateway` with Stripe's semantics.

    Ids numbered per instance (``pi_<namespace>_000001``, ...): ``namespace``
    defaults to ``fake`` plus random hex, unique per instance, so two fakes can
    write into one database; pass ``namespace="fake"`` for the deterministic
    ``pi_fake_000001``, ``cus_fake_000001``, ... a test can assert on. One
    idempotency-key namespace as at Stripe, and thread safety: every call runs
    under one lock, while the optional ``latency`` (seconds) is slept before
    taking it, so parallel callers overlap their waits as they would over a
    network. ``clock`` drives timestamps and subscription periods.

    Test-side inspection: :attr:`payments`, :attr:`charges` (succeeded
    payments), :attr:`refunds`, :attr:`calls`, :attr:`customers`,
    :attr:`payment_methods`, :attr:`subscriptions`. Test-side steering:
    :meth:`fail_next_refund`, :meth:`hold_next_refund`, :meth:`settle_refund`,
    :meth:`authenticate`, :meth:`set_subscription_status`, :meth:`add_invoice`,
    :meth:`advance_clock` (bills renewals as Stripe's test clocks do),
    :meth:`customer_balance`, :meth:`pending_invoice_items`,
    :meth:`complete_checkout_session`, and the catalogue
    helpers :meth:`add_product`, :meth:`add_price`, :meth:`add_coupon`.

    Events: :attr:`events` and :meth:`drain_events` give the Stripe events a
    real account would have sent for what the fake did (``docs/gateways.md``).
    """


if TYPE_CHECKING:
    # runtime_checkable only checks that the names exist; this makes mypy
    # check every signature against every gateway Protocol.
    def _conforms(gateway: FakeGateway) -> CompleteGateway:
        return gateway
