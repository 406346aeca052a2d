"""Orders: place, pay, cancel, discount. See docs/orders.md for the lifecycle and locking.

Locking in one sentence: every read and every gateway call happens first, with
no row lock held (only the caller's own fresh idempotency key row), and the
counters that guard money (stock, discount uses, per-customer uses) are
changed last, by conditional updates in a fixed order (customer, products by
id, discount), inside a savepoint, so their row locks live only from there to
the host's commit.

The modules, by concern:

* :mod:`.results` -- ``OrderResult`` and ``PaymentInfo``, what a host gets back;
* :mod:`.statements` -- the prebuilt Core statements of the hot path;
* :mod:`.inputs` -- reading and checking customer, catalog and code; pricing a cart;
* :mod:`.reserve` -- taking and giving back stock and discount uses;
* :mod:`.lifecycle` -- paid, cancelled, failed, synced with the gateway;
* :mod:`.place` -- ``place_order``;
* :mod:`.discount_change` -- ``apply_discount``.

The discount rules themselves live in :mod:`paykit.services.discounts`.
"""

from __future__ import annotations

# ``insert_objects`` is looked up here at call time (see reserve.insert_rows): the
# seam through which tests make the database fail after the gateway call.
from paykit.services._sql import insert_objects as insert_objects
from paykit.services.orders.discount_change import apply_discount
from paykit.services.orders.inputs import price_checked
from paykit.services.orders.lifecycle import (
    apply_payment,
    cancel_order,
    close_unpaid,
    fail_order_payment,
    get_order,
    mark_order_paid,
    sync_order_payment,
)
from paykit.services.orders.place import SCOPE_PLACE_ORDER as SCOPE_PLACE_ORDER
from paykit.services.orders.place import place_order
from paykit.services.orders.results import OrderResult, PaymentInfo

__all__ = [
    "OrderResult",
    "PaymentInfo",
    "apply_discount",
    "apply_payment",
    "cancel_order",
    "fail_order_payment",
    "mark_order_paid",
    "place_order",
    "sync_order_payment",
]

# The private names other modules imported from here before the split stay
# importable (quotes.py uses _price_checked).
_price_checked = price_checked
_close_unpaid = close_unpaid
_order = get_order
