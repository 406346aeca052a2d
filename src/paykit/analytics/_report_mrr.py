"""The report's recurring-revenue charts: MRR stacked by movement, and churn by month.

Data only (no plotly here): :func:`mrr_series` reads the day-by-day MRR and
movements the rollup computes (:func:`paykit.analytics.rollup.mrr_rows`, one
grouped movements query and one MRR query per currency), then buckets them
by day (ranges up to :data:`DAILY_UP_TO` days) or by calendar month.
:func:`churn_series` gives each calendar month of the range (clipped to it) its
customer churn rate and revenue churn, by the definitions of docs/analytics.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from paykit.analytics.churn import customer_churn_rate, ratio
from paykit.analytics.rollup import MRR_METRICS, mrr_rows

__all__ = ["DAILY_UP_TO", "ChurnMonth", "MrrBucket", "churn_series", "mrr_series"]

#: Ranges of up to this many days are charted day by day; longer ones by month.
DAILY_UP_TO = 92

_ZERO = Decimal("0.0000")


@dataclass
class MrrBucket:
    """One day's or month's movements in one currency, and MRR at its end."""

    label: str
    first: date
    last: date
    start_mrr: Decimal = _ZERO
    end_mrr: Decimal = _ZERO
    moved: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ChurnMonth:
    """A month of the range (clipped to it): customer churn rate and revenue churn."""

    label: str
    customer_churn: Decimal | None
    revenue_churn: Decimal | None


def _per_day(
    session: Session, first: date, last: date
) -> dict[str, dict[date, dict[str, Decimal]]]:
    days: dict[str, dict[date, dict[str, Decimal]]] = {}
    for row in mrr_rows(session, first, last):
        name, currency = str(row["metric"]).split(":", 1)
        days.setdefault(currency, {}).setdefault(row["date"], {})[name] = row["value"]
    return days


def _bucket_of(day: date, monthly: bool) -> str:
    return day.strftime("%Y-%m") if monthly else day.isoformat()


def mrr_series(session: Session, first: date, last: date) -> dict[str, list[MrrBucket]]:
    """Per currency of the subscriptions' history, the buckets of ``[first, last]`` in order.

    A bucket's movements are the sums of its days'; its ``start_mrr`` is MRR at
    the end of the day before it, its ``end_mrr`` MRR at the end of its last day,
    so ``start_mrr + new + reactivation + expansion - contraction - churned ==
    end_mrr`` for every bucket, as for every range.
    """
    monthly = (last - first).days + 1 > DAILY_UP_TO
    series: dict[str, list[MrrBucket]] = {}
    for currency, days in sorted(_per_day(session, first, last).items()):
        buckets: dict[str, MrrBucket] = {}
        for day in sorted(days):
            values = days[day]
            label = _bucket_of(day, monthly)
            bucket = buckets.get(label)
            if bucket is None:
                net = values["mrr_new"] + values["mrr_reactivation"] + values["mrr_expansion"]
                net -= values["mrr_contraction"] + values["mrr_churned"]
                bucket = buckets[label] = MrrBucket(label, day, day, start_mrr=values["mrr"] - net)
            bucket.last, bucket.end_mrr = day, values["mrr"]
            for name in MRR_METRICS[1:]:
                bucket.moved[name] = bucket.moved.get(name, _ZERO) + values[name]
        series[currency] = list(buckets.values())
    return series


def churn_series(
    session: Session, first: date, last: date, series: dict[str, list[MrrBucket]]
) -> dict[str, list[ChurnMonth]]:
    """Per currency, each calendar month of ``[first, last]`` (clipped to the range).

    Customer churn rate: :func:`customer_churn_rate` over the month's days.
    Revenue churn: (churned + contraction) ÷ MRR at the month's start, summed
    from the day-by-day movements of :func:`mrr_series` (what
    :func:`paykit.analytics.revenue_churn` computes over the same days).
    """
    out: dict[str, list[ChurnMonth]] = {}
    for currency, buckets in series.items():
        months: dict[str, list[MrrBucket]] = {}
        for bucket in buckets:
            months.setdefault(bucket.first.strftime("%Y-%m"), []).append(bucket)
        rows = []
        for label, parts in months.items():
            start, end = parts[0].first, parts[-1].last
            lost = sum((b.moved["mrr_churned"] + b.moved["mrr_contraction"] for b in parts), _ZERO)
            rows.append(
                ChurnMonth(
                    label,
                    customer_churn_rate(session, start=start, end=end, currency=currency),
                    ratio(lost, parts[0].start_mrr),
                )
            )
        out[currency] = rows
    return out
