"""Pure order pricing: lines, discounts, allocation, tax and refund splits.

No database, no I/O, no clock: the services build the inputs below from
their rows, pass ``now`` and the discount usage counts in, and persist the
:class:`PricedOrder` that comes out. Every rule (check order, validity
window, half-up rounding, largest-remainder allocation, tax on the discounted
amount, the refund tax split) is written out in ``docs/pricing.md``.

All arithmetic is done on Python integers counted in the currency's minor
unit, so no decimal context, float or hidden rounding can change a result;
the only roundings are the documented half-up ones.

The package imports only ``money``, ``clock`` and ``errors`` (layer 4 of
docs/architecture.md). Its modules, by concern: :mod:`~paykit.pricing.lines`
(the input lines), :mod:`~paykit.pricing.discounts` (rules, eligibility,
amount), :mod:`~paykit.pricing.orders` (``price_order``, ``allocate``) and
:mod:`~paykit.pricing.refunds` (refundable amount, refund split).
"""

from paykit.pricing import discounts, lines, orders, refunds
from paykit.pricing.discounts import *  # noqa: F403
from paykit.pricing.lines import *  # noqa: F403
from paykit.pricing.orders import *  # noqa: F403
from paykit.pricing.refunds import *  # noqa: F403

__all__: list[str] = []
__all__ += discounts.__all__
__all__ += lines.__all__
__all__ += orders.__all__
__all__ += refunds.__all__
