"""The HTML analytics report: rendered on both databases, checked in headless Chromium.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when it is
missing). The check: the page's eight plotly charts (MRR in EUR and in USD,
churn, revenue, refunds, counts, cohorts, products) draw (their SVG is in the
DOM after the scripts ran), the console logs no error, and a screenshot is
taken. ``PAYKIT_REPORT_SCREENSHOT=<path>`` keeps the screenshot (how
docs/img/analytics-report.png was made).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ConfigurationError
from paykit.gateways.base import GatewaySubscription
from paykit.services.subscriptions import sync_subscription

NOW = FrozenClock(datetime(2026, 3, 31, 18, 0, tzinfo=UTC))
START = date(2026, 1, 1)


def _world(session: Session) -> None:
    """Ninety days of sales in two currencies, some refunds, customers who come back."""
    users = [f.user(session) for _ in range(12)]
    names = ["Pro plan", "Team plan", "E-book", "Course", "Stickers", "Support pack"]
    products = [f.product(session, name=name) for name in names]
    for n in range(90):
        day = START + timedelta(days=n)
        for k in range(1 + (n * 7) % 4):
            who = users[(n // 9 + k * 5) % len(users)]
            currency = "EUR" if k == 2 else "USD"
            total = Decimal(10 + (n * 13 + k * 7) % 40)
            order = f.order(
                session,
                who,
                status=m.OrderStatus.COMPLETED,
                total_amount=total,
                currency=currency,
                product=products[(n * 3 + k) % len(products)],
                created_at=datetime(day.year, day.month, day.day, 9 + k, tzinfo=UTC),
            )
            if (n + k) % 11 == 0:
                f.refund(
                    session, order, Decimal(5), created_at=order.created_at + timedelta(hours=30)
                )


#: Subscription stories: (customer, currency, [(day, stripe price, quantity, status), ...]).
_STORIES = (
    (0, "USD", [(4, "p_usd_m", 1, "active"), (40, "p_usd_m", 3, "active")]),
    (1, "USD", [(11, "p_usd_y", 1, "active"), (50, "p_usd_y", 1, "canceled")]),
    (1, "USD", [(73, "p_usd_m", 2, "active")]),
    (2, "USD", [(31, "p_usd_big", 1, "active"), (61, "p_usd_m", 1, "active")]),
    (3, "EUR", [(19, "p_eur_m", 2, "active"), (55, "p_eur_m", 2, "past_due")]),
    (4, "EUR", [(59, "p_eur_y", 1, "active"), (79, "p_eur_y", 1, "canceled")]),
    (5, "USD", [(2, "p_usd_m", 4, "trialing"), (16, "p_usd_m", 4, "active")]),
    (5, "USD", [(22, "p_usd_m", 1, "active"), (66, "p_usd_m", 1, "canceled")]),
)


def _subscriptions(session: Session) -> None:
    """MRR that moves every way: new, expansion, contraction, churn, reactivation."""
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, name="Plans")
    for stripe_id, currency, amount, interval in (
        ("p_usd_m", "USD", "29.00", "month"),
        ("p_usd_big", "USD", "99.00", "month"),
        ("p_usd_y", "USD", "240.00", "year"),
        ("p_eur_m", "EUR", "19.99", "month"),
        ("p_eur_y", "EUR", "480.00", "year"),
    ):
        f.price(
            session,
            product,
            stripe_price_id=stripe_id,
            currency=currency,
            unit_amount=Decimal(amount),
            type=m.PriceType.RECURRING,
            recurring={"interval": interval, "interval_count": 1},
        )
    for n in range(6):
        f.user(session, stripe_customer_id=f"cus_report_{n}")
    session.flush()
    for number, (customer, currency, steps) in enumerate(_STORIES):
        sub_id = f"sub_report_{number}"
        for day, price, quantity, status in steps:
            at = datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC)
            at += timedelta(hours=10)
            snapshot = GatewaySubscription(
                id=sub_id,
                customer_id=f"cus_report_{customer}",
                status=status,  # type: ignore[arg-type]
                price_id=price,
                product_id=None,
                quantity=quantity,
                unit_amount_minor=None,
                currency=currency,
                current_period_start=at,
                current_period_end=at + timedelta(days=30),
                cancel_at_period_end=False,
                canceled_at=at if status == "canceled" else None,
            )
            sync_subscription(session, snapshot, clock=NOW, event_created=at)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no chromium on PATH (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; .ci/run installs it", pytrace=False)
    pytest.skip(reason)


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)
    ]


def test_report_renders_on_each_database(session: Session) -> None:
    _world(session)
    _subscriptions(session)
    html = analytics.render_report(session, start=START, end=date(2026, 3, 31), clock=NOW)
    assert html.startswith("<!doctype html>")
    # MRR in EUR and in USD, churn, revenue, refunds, counts, cohorts, products
    assert html.count('class="plotly-graph-div"') == 8
    assert "MRR EUR: movements and MRR" in html
    assert "MRR USD: movements and MRR" in html
    assert "Churn by month" in html
    assert "MRR USD at the end" in html
    assert "cdn.plot.ly" not in html.split("<body>", 1)[1].split("<script", 1)[0]
    assert "gross revenue USD" in html
    assert "Cohort retention" in html


def test_mrr_buckets_add_up_and_match_the_readers(session: Session) -> None:
    """The charted figures are the readers' figures: each bucket balances, months churn."""
    from paykit.analytics._report_mrr import churn_series, mrr_series

    _subscriptions(session)
    end = date(2026, 3, 31)
    for first, last, count in ((START, end, 90), (date(2025, 12, 1), end, 4)):
        series = mrr_series(session, first, last)
        assert sorted(series) == ["EUR", "USD"]
        for currency, buckets in series.items():
            assert len(buckets) == count
            assert buckets[0].start_mrr == paykit.mrr(
                session, at=datetime.combine(first, datetime.min.time(), UTC), currency=currency
            )
            for bucket in buckets:
                moved = paykit.mrr_movements(
                    session, start=bucket.first, end=bucket.last, currency=currency
                )
                assert (bucket.start_mrr, bucket.end_mrr) == (moved.start_mrr, moved.end_mrr)
                assert bucket.moved["mrr_churned"] == moved.churned
                assert bucket.moved["mrr_new"] == moved.new
                assert bucket.moved["mrr_reactivation"] == moved.reactivation
    series = mrr_series(session, START, end)
    churn = churn_series(session, START, end, series)
    for currency, months in churn.items():
        assert [m.label for m in months] == ["2026-01", "2026-02", "2026-03"]
        for month, (first, last) in zip(
            months,
            (
                (START, date(2026, 1, 31)),
                (date(2026, 2, 1), date(2026, 2, 28)),
                (date(2026, 3, 1), end),
            ),
            strict=True,
        ):
            assert month.revenue_churn == paykit.revenue_churn(
                session, start=first, end=last, currency=currency
            )
            assert month.customer_churn == paykit.customer_churn_rate(
                session, start=first, end=last, currency=currency
            )
    assert churn["USD"][1].customer_churn == Decimal("0.3333")  # 1 of 3 paying on Feb 1 left


def test_missing_extra_is_a_clear_error(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ConfigurationError) as caught:
        analytics.render_report(session, start=START, end=START, clock=NOW)
    assert caught.value.code == "analytics_extra_missing"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_report_draws_in_headless_chromium(session: Session, tmp_path: Path) -> None:
    _world(session)
    _subscriptions(session)
    page = analytics.write_report(
        session, start=START, end=date(2026, 3, 31), out=tmp_path / "report.html", clock=NOW
    )
    url = page.resolve().as_uri()
    dom = _browser("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 8, "the charts did not draw"
    assert _console_errors(dom.stderr) == []
    shot = tmp_path / "report.png"
    taken = _browser(f"--screenshot={shot}", "--window-size=1400,1860", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
    assert _console_errors(taken.stderr) == []
    keep = os.environ.get("PAYKIT_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_console_errors_are_seen(tmp_path: Path) -> None:
    """The console check above is not blind: a page that throws is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><script>throw new Error('boom')</script>", encoding="utf-8")
    run = _browser("--dump-dom", page.resolve().as_uri())
    assert _console_errors(run.stderr), run.stderr[-2000:]
