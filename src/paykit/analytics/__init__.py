"""paykit's analytics: revenue, customers, cohorts, the daily rollup and the HTML report.

Every figure is computed set-based in SQL from the rows the services write;
the readers never write (they run on a replica), and ``rollup``/``backfill``
write only the ``analytics`` table, in the caller's transaction. Definitions:
docs/analytics.md.
"""

from __future__ import annotations

from paykit.analytics.cohorts import Cohort, CohortTable, cohorts
from paykit.analytics.metrics import DailyRevenue, new_customers, revenue
from paykit.analytics.products import ProductRevenue, revenue_by_category, revenue_by_product
from paykit.analytics.report import render_report, write_report
from paykit.analytics.rollup import RollupResult, backfill, rollup

__all__ = [
    "Cohort",
    "CohortTable",
    "DailyRevenue",
    "ProductRevenue",
    "RollupResult",
    "backfill",
    "cohorts",
    "new_customers",
    "render_report",
    "revenue",
    "revenue_by_category",
    "revenue_by_product",
    "rollup",
    "write_report",
]
