"""The HTML analytics report: rendered on both databases, checked in headless Chromium.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when it is
missing). The check: the page's five plotly charts draw (their SVG is in the
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

from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ConfigurationError

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
    html = analytics.render_report(session, start=START, end=date(2026, 3, 31), clock=NOW)
    assert html.startswith("<!doctype html>")
    assert html.count('class="plotly-graph-div"') == 5
    assert "cdn.plot.ly" not in html.split("<body>", 1)[1].split("<script", 1)[0]
    assert "gross revenue USD" in html
    assert "Cohort retention" in html


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
    page = analytics.write_report(
        session, start=START, end=date(2026, 3, 31), out=tmp_path / "report.html", clock=NOW
    )
    url = page.resolve().as_uri()
    dom = _browser("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 5, "the charts did not draw"
    assert _console_errors(dom.stderr) == []
    shot = tmp_path / "report.png"
    taken = _browser(f"--screenshot={shot}", "--window-size=1400,1160", url)
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
