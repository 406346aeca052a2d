"""paykit: a complete SaaS payment back end as a Python library.

The flat namespace below is the public API; submodules (``paykit.models``,
``paykit.errors``, ``paykit.gateways``, ...) are public too, and everything
whose name starts with an underscore is not.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from paykit import errors, models
from paykit.clock import Clock, FrozenClock, SystemClock
from paykit.context import RequestContext
from paykit.db import create_engine
from paykit.errors import PaykitError
from paykit.gateways import FakeGateway, PaymentGateway
from paykit.migrator import current_revision, downgrade, head_revision, migrate
from paykit.money import (
    Currency,
    as_money,
    from_minor_units,
    get_currency,
    quantize,
    to_minor_units,
)
from paykit.pricing import (
    DiscountRule,
    DiscountUsageCounts,
    LineInput,
    PricedLine,
    PricedOrder,
    RefundSplit,
    allocate,
    check_discount_eligibility,
    discount_amount,
    price_order,
    refund_split,
    refundable_amount,
)
from paykit.services import (
    OrderResult,
    PaymentInfo,
    SeedResult,
    apply_discount,
    cancel_order,
    fail_order_payment,
    issue_refund,
    mark_order_paid,
    place_order,
    seed,
    sync_order_payment,
    sync_refund,
)

try:
    __version__ = version("paykit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    from paykit._version import __version__

__all__ = [
    "Clock",
    "Currency",
    "DiscountRule",
    "DiscountUsageCounts",
    "FakeGateway",
    "FrozenClock",
    "LineInput",
    "OrderResult",
    "PaykitError",
    "PaymentGateway",
    "PaymentInfo",
    "PricedLine",
    "PricedOrder",
    "RefundSplit",
    "RequestContext",
    "SeedResult",
    "SystemClock",
    "__version__",
    "allocate",
    "apply_discount",
    "as_money",
    "cancel_order",
    "check_discount_eligibility",
    "create_engine",
    "current_revision",
    "discount_amount",
    "downgrade",
    "errors",
    "fail_order_payment",
    "from_minor_units",
    "get_currency",
    "head_revision",
    "issue_refund",
    "mark_order_paid",
    "migrate",
    "models",
    "place_order",
    "price_order",
    "quantize",
    "refund_split",
    "refundable_amount",
    "seed",
    "sync_order_payment",
    "sync_refund",
    "to_minor_units",
]
