"""Analytics computed from paykit's own tables (docs/analytics.md).

``history`` records each state of a subscription's MRR contribution (called
by ``sync_subscription``); ``recurring`` computes MRR at an instant and its
movements over days from that history; ``definitions`` holds the rules
(normalisation to a month, rounding, counting statuses, day boundaries) as
pure functions. This package sits just below ``services``: it imports models,
``money`` and ``clock``, never a service.
"""

from paykit.analytics.definitions import (
    COUNTING_STATUSES,
    MRR_QUANTUM,
    day_end,
    day_of,
    interval_of,
    monthly_amount,
)
from paykit.analytics.history import record_mrr_change
from paykit.analytics.recurring import MrrMovements, mrr, mrr_movements, mrr_statement

__all__ = [
    "COUNTING_STATUSES",
    "MRR_QUANTUM",
    "MrrMovements",
    "day_end",
    "day_of",
    "interval_of",
    "monthly_amount",
    "mrr",
    "mrr_movements",
    "mrr_statement",
    "record_mrr_change",
]
