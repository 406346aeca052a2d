"""paykit's analytics: MRR and its movements, churn, ARPU, LTV, revenue, customers, cohorts,
the daily rollup and the HTML report (definitions: docs/analytics.md).

``history`` records each state of a subscription's MRR contribution (called by
``sync_subscription``; ``backfill_mrr_history`` gives subscriptions from before
revision 0011 their current state); ``recurring`` computes MRR at an instant and its
movements over days from that history; ``definitions`` holds the MRR rules
(normalisation to a month, rounding, counting statuses, day boundaries) as
pure functions. Every figure is computed set-based in SQL from the rows the
services write; the readers never write (they run on a replica), and
``rollup``/``backfill`` write only the ``analytics`` table, in the caller's
transaction. This package sits just below ``services`` and imports none.

The building blocks (``definitions.monthly_amount``, ``day_of``, ``day_end``,
``interval_of``; ``recurring.mrr_statement``; ``history.record_mrr_change``,
which ``sync_subscription`` calls) are importable from their modules but are
not the public surface: they take already-checked values.
"""

from __future__ import annotations

from paykit.analytics.churn import arpu, customer_churn_rate, ltv, revenue_churn
from paykit.analytics.cohorts import Cohort, CohortTable, cohorts
from paykit.analytics.definitions import COUNTING_STATUSES, MRR_QUANTUM
from paykit.analytics.history import backfill_mrr_history
from paykit.analytics.metrics import DailyRevenue, new_customers, revenue
from paykit.analytics.products import ProductRevenue, revenue_by_category, revenue_by_product
from paykit.analytics.recurring import MrrMovements, mrr, mrr_movements
from paykit.analytics.report import render_report, write_report
from paykit.analytics.rollup import RollupResult, backfill, rollup

__all__ = [
    "COUNTING_STATUSES",
    "MRR_QUANTUM",
    "Cohort",
    "CohortTable",
    "DailyRevenue",
    "MrrMovements",
    "ProductRevenue",
    "RollupResult",
    "arpu",
    "backfill",
    "backfill_mrr_history",
    "cohorts",
    "customer_churn_rate",
    "ltv",
    "mrr",
    "mrr_movements",
    "new_customers",
    "render_report",
    "revenue",
    "revenue_by_category",
    "revenue_by_product",
    "revenue_churn",
    "rollup",
    "write_report",
]
