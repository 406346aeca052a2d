"""Billing for customers: saved payment methods, invoices, hosted checkout (docs/billing.md)."""

from paykit.services.billing import checkout, invoices, payment_methods, retry
from paykit.services.billing.checkout import *  # noqa: F403
from paykit.services.billing.invoices import *  # noqa: F403
from paykit.services.billing.payment_methods import *  # noqa: F403
from paykit.services.billing.retry import *  # noqa: F403

__all__: list[str] = []
__all__ += checkout.__all__
__all__ += invoices.__all__
__all__ += payment_methods.__all__
__all__ += retry.__all__
