"""The HTML report: one self-contained file of charts that opens offline in a browser.

Needs the ``analytics`` extra (plotly and Jinja2); without it
:func:`render_report` raises ``ConfigurationError`` with the code
``analytics_extra_missing``. The plotly library is inlined once, so the file
loads nothing from the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics._checks import check_range, today
from paykit.analytics._report_mrr import ChurnMonth, MrrBucket, churn_series, mrr_series
from paykit.analytics.cohorts import CohortTable, cohort_rows
from paykit.analytics.metrics import DailyRevenue, new_customer_rows, revenue_rows
from paykit.analytics.products import ProductRevenue, product_rows
from paykit.clock import Clock
from paykit.errors import ConfigurationError

__all__ = ["render_report", "write_report"]

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
.sub { color: #666; margin: 0 0 1rem; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1rem; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.2rem; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.chart { border: 1px solid #eee; border-radius: 6px; min-height: 320px; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="sub">{{ start }} to {{ end }} (UTC days) &middot; generated {{ generated }}</p>
<div class="cards">
{% for card in cards %}<div class="card">{{ card.label }}<b>{{ card.value }}</b></div>
{% endfor %}</div>
<div class="grid">
{% for chart in charts %}<div class="chart">{{ chart | safe }}</div>
{% endfor %}</div>
</body>
</html>
"""


@dataclass(frozen=True)
class _Card:
    label: str
    value: str


def _modules() -> tuple[ModuleType, ModuleType]:
    try:
        import jinja2
        import plotly.graph_objects as go
    except ImportError as exc:
        raise ConfigurationError(
            "the analytics report needs plotly and Jinja2: pip install 'paykit[analytics]'",
            code="analytics_extra_missing",
            details={"missing": exc.name or "plotly"},
        ) from None
    return jinja2, go


def _series(rows: list[DailyRevenue], days: list[date], field: str) -> dict[str, list[float]]:
    by_currency: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        by_currency.setdefault(row.currency, {})[row.day] = getattr(row, field)
    return {
        currency: [float(values.get(day, 0)) for day in days]
        for currency, values in sorted(by_currency.items())
    }


def _layout(title: str) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "margin": {"l": 50, "r": 20, "t": 50, "b": 40},
        "height": 320,
        "legend": {"orientation": "h"},
        "template": "plotly_white",
    }


def _charts(
    go: ModuleType,
    rows: list[DailyRevenue],
    days: list[date],
    new: dict[date, int],
    table: CohortTable,
) -> list[Any]:
    x = [day.isoformat() for day in days]
    revenue = go.Figure(layout=_layout("Revenue per day"))
    for currency, values in _series(rows, days, "gross").items():
        revenue.add_trace(go.Scatter(x=x, y=values, name=f"gross {currency}", mode="lines"))
    for currency, values in _series(rows, days, "net").items():
        revenue.add_trace(go.Scatter(x=x, y=values, name=f"net {currency}", mode="lines"))
    refunds = go.Figure(layout=_layout("Refunds per day"))
    for currency, values in _series(rows, days, "refunds").items():
        refunds.add_trace(go.Bar(x=x, y=values, name=currency))
    counts = go.Figure(layout=_layout("Orders and new customers per day"))
    orders: dict[date, int] = {}
    for row in rows:
        orders[row.day] = orders.get(row.day, 0) + row.orders
    counts.add_trace(go.Bar(x=x, y=[orders.get(d, 0) for d in days], name="orders"))
    counts.add_trace(go.Bar(x=x, y=[new.get(d, 0) for d in days], name="new customers"))
    width = max((len(c.retained) for c in table.cohorts), default=0)
    z = [[float(r) * 100 for r in c.rates] + [None] * (width - len(c.rates)) for c in table.cohorts]
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"month {k}" for k in range(width)],
            y=[f"{c.month} ({c.customers})" for c in table.cohorts],
            colorscale="Blues",
            zmin=0,
            zmax=100,
            text=[["" if v is None else f"{v:.0f}%" for v in line] for line in z],
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1f}%<extra></extra>",
        ),
        layout=_layout("Cohort retention (% with MRR or a payment)"),
    )
    heat.update_yaxes(autorange="reversed")
    return [revenue, refunds, counts, heat]


#: The movements of the MRR chart: (rollup metric, legend, sign, colour).
_MOVEMENTS = (
    ("mrr_new", "new", 1, "#2ca02c"),
    ("mrr_expansion", "expansion", 1, "#98df8a"),
    ("mrr_reactivation", "reactivation", 1, "#17becf"),
    ("mrr_contraction", "contraction", -1, "#ff9896"),
    ("mrr_churned", "churned", -1, "#d62728"),
)


def _mrr_chart(go: ModuleType, currency: str, buckets: list[MrrBucket]) -> Any:
    """Movements as relative (stacked) bars, losses below zero; MRR at each end as a line."""
    x = [b.label for b in buckets]
    chart = go.Figure(layout=_layout(f"MRR {currency}: movements and MRR"))
    for name, label, sign, colour in _MOVEMENTS:
        chart.add_trace(
            go.Bar(
                x=x,
                y=[sign * float(b.moved.get(name, 0)) for b in buckets],
                name=label,
                marker_color=colour,
            )
        )
    chart.add_trace(
        go.Scatter(
            x=x,
            y=[float(b.end_mrr) for b in buckets],
            name="MRR",
            mode="lines+markers" if len(x) <= 31 else "lines",
            line={"color": "#1f3b73", "width": 2},
            yaxis="y2",
        )
    )
    chart.update_layout(
        barmode="relative",
        height=400,
        yaxis={"title": {"text": "movements"}, "domain": [0, 0.46], "zeroline": True},
        yaxis2={
            "title": {"text": "MRR"},
            "domain": [0.54, 1],
            "anchor": "x",
            "rangemode": "tozero",
        },
    )
    if buckets and len(buckets[0].label) == 7:
        chart.update_xaxes(type="category")  # months: "2026-01" is a month, not a day
    return chart


def _churn_chart(go: ModuleType, churn: dict[str, list[ChurnMonth]]) -> Any:
    """Customer churn rate and revenue churn by month, in % (a gap where undefined)."""
    chart = go.Figure(layout=_layout("Churn by month (% of the month's start)"))
    for currency, months in sorted(churn.items()):
        x = [m.label for m in months]
        for label, values in (
            ("customer churn", [m.customer_churn for m in months]),
            ("revenue churn", [m.revenue_churn for m in months]),
        ):
            chart.add_trace(
                go.Bar(
                    x=x,
                    y=[None if v is None else float(v) * 100 for v in values],
                    name=f"{label} {currency}",
                )
            )
    chart.update_layout(
        barmode="group",
        height=400,
        xaxis={"type": "category"},
        yaxis={"ticksuffix": "%", "rangemode": "tozero"},
    )
    return chart


def _products_chart(go: ModuleType, products: list[ProductRevenue]) -> Any:
    top = products[:10]
    chart = go.Figure(layout=_layout("Revenue by product (top 10)"))
    for currency in sorted({p.currency for p in top}):
        mine = [p for p in top if p.currency == currency]
        chart.add_trace(
            go.Bar(
                x=[float(p.revenue) for p in mine],
                y=[p.name for p in mine],
                name=currency,
                orientation="h",
            )
        )
    chart.update_yaxes(autorange="reversed")
    return chart


def _cards(
    rows: list[DailyRevenue], new: dict[date, int], mrr: dict[str, list[MrrBucket]]
) -> list[_Card]:
    gross: dict[str, Decimal] = {}
    net: dict[str, Decimal] = {}
    for row in rows:
        gross[row.currency] = gross.get(row.currency, Decimal(0)) + row.gross
        net[row.currency] = net.get(row.currency, Decimal(0)) + row.net
    cards = [_Card(f"MRR {c} at the end", f"{b[-1].end_mrr:,.2f}") for c, b in mrr.items() if b]
    cards += [_Card(f"gross revenue {c}", f"{v:,}") for c, v in sorted(gross.items())]
    cards += [_Card(f"net revenue {c}", f"{v:,}") for c, v in sorted(net.items())]
    cards.append(_Card("paid orders", f"{sum(r.orders for r in rows):,}"))
    cards.append(_Card("new customers", f"{sum(new.values()):,}"))
    return cards


@checked
def render_report(
    session: Session,
    *,
    start: date,
    end: date,
    clock: Clock | None = None,
    title: str = "paykit analytics",
) -> str:
    """The report of ``[start, end]`` (UTC days, both included) as one HTML document.

    Read-only. Per currency, MRR stacked by movement (new, expansion and
    reactivation above zero, contraction and churned below) with the MRR line,
    by day (ranges up to 92 days) or month; customer and revenue churn by
    month; revenue, refunds, orders and new customers per day; the cohort
    table of the range's months (up to 24) as a heat map; and the ten
    products with the most revenue. Raises
    ``ConfigurationError`` (``analytics_extra_missing``) without the
    ``analytics`` extra.
    """
    jinja2, go = _modules()
    latest = today(clock)
    first, last = check_range(start, end, latest=latest)
    days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    rows = revenue_rows(session, first, last)
    new = new_customer_rows(session, first, last)
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    table = cohort_rows(session, first.replace(day=1), min(months, 24), latest)
    mrr = mrr_series(session, first, last)
    if not mrr:  # no subscription history yet: one empty chart says so
        mrr = {"(none)": []}
    churn = churn_series(session, first, last, {c: b for c, b in mrr.items() if b})
    figures = [
        *(_mrr_chart(go, currency, buckets) for currency, buckets in mrr.items()),
        _churn_chart(go, churn),
        *_charts(go, rows, days, new, table),
        _products_chart(go, product_rows(session, first, last)),
    ]
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=(n == 0), config={"responsive": True})
        for n, fig in enumerate(figures)
    ]
    env = jinja2.Environment(autoescape=True)
    generated = (clock.now() if clock else datetime.now().astimezone()).isoformat(
        timespec="seconds"
    )
    html: str = env.from_string(_TEMPLATE).render(
        title=title,
        start=first.isoformat(),
        end=last.isoformat(),
        generated=generated,
        cards=_cards(rows, new, mrr),
        charts=charts,
    )
    return html


@checked
def write_report(
    session: Session,
    *,
    start: date,
    end: date,
    out: str | Path,
    clock: Clock | None = None,
) -> Path:
    """:func:`render_report` written to ``out`` (UTF-8); returns the path written."""
    html = render_report(session, start=start, end=end, clock=clock)
    path = Path(out)
    path.write_text(html, encoding="utf-8")
    return path
