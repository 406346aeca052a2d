"""``paykit analytics rollup`` and ``paykit analytics report``, run as the console script."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.db import create_engine


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paykit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def _engine(env: dict[str, str]) -> sa.Engine:
    options = env.get("PGOPTIONS")
    kwargs = {"connect_args": {"options": options}} if options else {}
    return create_engine(env["PAYKIT_DATABASE_URL"], **kwargs)


def test_rollup_backfill_and_report(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    engine = _engine(subprocess_env)
    paykit.migrate(engine)
    day = date(2026, 1, 5)
    with Session(engine) as session, session.begin():
        user = f.user(session)
        f.order(
            session,
            user,
            status=m.OrderStatus.COMPLETED,
            total_amount=Decimal("12.50"),
            created_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
        )
    one = run("analytics", "rollup", "--day", "2026-01-05", env=subprocess_env)
    assert one.returncode == 0, one.stderr
    assert "rolled up 1 day(s)" in one.stdout
    year = run(
        "analytics", "rollup", "--from", "2025-12-01", "--to", "2026-02-15", env=subprocess_env
    )
    assert year.returncode == 0, year.stderr
    assert "77/77 days" in year.stderr  # the progress bar's last state
    with Session(engine) as session:
        values = dict(
            session.execute(
                sa.select(m.Analytics.metric, m.Analytics.value).where(m.Analytics.date == day)
            ).all()
        )
        days = session.scalar(sa.select(sa.func.count(sa.distinct(m.Analytics.date))))
    assert values["gross_revenue:USD"] == Decimal("12.50")
    assert values["new_customers"] == 1
    assert days == 77
    out = tmp_path / "report.html"
    report = run(
        "analytics",
        "report",
        "--from",
        "2025-12-01",
        "--to",
        "2026-02-15",
        "--out",
        str(out),
        env=subprocess_env,
    )
    assert report.returncode == 0, report.stderr
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    engine.dispose()


def test_bad_arguments_are_one_line(subprocess_env: dict[str, str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    cases = [
        (["analytics", "rollup"], "rollup needs --day"),
        (["analytics", "rollup", "--day", "2026-13-01"], "not a day"),
        (["analytics", "rollup", "--day", "yesterday"], "not a day"),
        (["analytics", "rollup", "--day", tomorrow], "in the future"),
        (["analytics", "rollup", "--from", "2026-02-01", "--to", "2026-01-01"], "is after end"),
        (["analytics", "rollup", "--day", "2026-01-01", "--from", "2026-01-01"], "give --day"),
        (["analytics", "report", "--from", "2026-01-01"], "report needs"),
    ]
    for args, message in cases:
        done = run(*args, env=subprocess_env)
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
