"""``FakeGateway``, an in-memory ``PaymentGateway`` with Stripe's semantics, split by concern.

=================  ===========================================================
``ledger``         state, idempotency, call log, ids, clock, lookups
``catalog``        products, prices, coupons
``cards``          customers, payment methods, Stripe's test card ids
``payments``       PaymentIntents
``refunds``        refunds and their steering
``subscriptions``  subscriptions, periods, trials, cancellations
``gateway``        ``FakeGateway``, composing the above
=================  ===========================================================
"""

from __future__ import annotations

from paykit.testing.fake.gateway import FakeGateway

__all__ = ["FakeGateway"]
