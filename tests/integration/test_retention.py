"""Retention: old operational rows go by age, money records never; check() follows the cut-off."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.cli import main
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.errors import ValidationError
from paykit.models.users import TokenPurpose, UserToken

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=800)
RECENT = NOW - timedelta(days=10)


def _fill(session: Session) -> dict[str, Any]:
    user = f.user(session)
    old_order = f.order(session, user, created_at=OLD, updated_at=OLD)
    new_order = f.order(session, user, created_at=RECENT, updated_at=RECENT)
    for n, (status, at) in enumerate(
        [
            ("processed", OLD),
            ("ignored", OLD),
            ("failed", OLD),
            ("pending", OLD),
            ("processed", RECENT),
        ]
    ):
        session.add(
            m.WebhookEvent(
                event_id=f"evt_ret_{user.id}_{n}",
                type="invoice.paid",
                event_created_at=at,
                payload={},
                status=status,
                attempts=0 if status == "pending" else 1,
                last_error="boom" if status == "failed" else None,
                received_at=at,
                processed_at=at if status in ("processed", "ignored") else None,
            )
        )
    session.add(m.Session(user_id=user.id, token=f"h-old-{user.id}", expires_at=OLD))
    session.add(
        m.Session(user_id=user.id, token=f"h-new-{user.id}", expires_at=NOW + timedelta(days=1))
    )
    session.add(
        UserToken(
            user_id=user.id,
            purpose=TokenPurpose.PASSWORD_RESET,
            token_hash=f"t-{user.id}",
            expires_at=RECENT,
        )
    )
    session.flush()
    return {"user": user, "old_order": old_order, "new_order": new_order}


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def test_a_dry_run_counts_and_deletes_nothing(session: Session) -> None:
    world = _fill(session)
    before = _count(session, m.AuditLog)
    report = paykit.purge_old_records(session, dry_run=True, clock=FrozenClock(NOW))
    assert report.dry_run is True
    assert report.deleted["audit_logs"] >= 1
    assert report.deleted["webhook_events"] >= 2
    assert _count(session, m.AuditLog) == before
    assert session.get(m.Order, world["old_order"].id) is not None
    assert "would delete" in report.format()


@pytest.mark.partial_state(
    "purges an old order's audit row, which check accepts only past a recorded cut-off"
)
def test_purge_deletes_by_age_and_keeps_money_and_unfinished_events(session: Session) -> None:
    world = _fill(session)
    user = world["user"]
    report = paykit.purge_old_records(session, clock=FrozenClock(NOW), batch_size=1)
    assert report.dry_run is False
    old_id, new_id = world["old_order"].id, world["new_order"].id
    assert _count(session, m.AuditLog, m.AuditLog.resource_id == old_id) == 0
    assert _count(session, m.AuditLog, m.AuditLog.resource_id == new_id) == 1
    statuses = sorted(
        session.scalars(
            sa.select(m.WebhookEvent.status).where(
                m.WebhookEvent.event_id.like(f"evt_ret_{user.id}_%")
            )
        )
    )
    assert statuses == ["failed", "pending", "processed"]  # the recent one, and the unfinished
    assert _count(session, m.Session, m.Session.user_id == user.id) == 1
    assert _count(session, UserToken, UserToken.user_id == user.id) == 0
    # Money records are never touched.
    assert session.get(m.Order, old_id) is not None
    cutoff = session.scalar(
        sa.select(m.SystemConfig.value).where(m.SystemConfig.key == "paykit.retention.audit_before")
    )
    assert cutoff == (NOW - timedelta(days=730)).isoformat()
    # check() no longer expects the purged audit rows of old orders...
    report_check = paykit.check(session, invariants=["order_audit"])
    assert old_id not in {e for finding in report_check.findings for e in finding.examples}
    # ...but still finds a recent order without one.
    session.execute(sa.delete(m.AuditLog).where(m.AuditLog.resource_id == new_id))
    findings = paykit.check(session, invariants=["order_audit"]).findings
    assert any(new_id in finding.examples for finding in findings)


def test_none_keeps_a_kind_forever_and_archive_sees_every_row(session: Session) -> None:
    _fill(session)
    archived: list[tuple[str, dict[str, Any]]] = []
    policy = paykit.RetentionPolicy(audit_logs=None, idempotency_keys=None)
    report = paykit.purge_old_records(
        session, policy=policy, clock=FrozenClock(NOW), archive=lambda k, r: archived.append((k, r))
    )
    assert "audit_logs" not in report.deleted
    assert sum(report.deleted.values()) == len(archived)
    assert {kind for kind, _ in archived} >= {"webhook_events", "sessions"}


@pytest.mark.parametrize("bad", [{"policy": "forever"}, {"batch_size": 0}, {"dry_run": "yes"}])
def test_bad_arguments_are_refused(session: Session, bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        paykit.purge_old_records(session, clock=FrozenClock(NOW), **bad)


def test_negative_ages_are_refused(session: Session) -> None:
    with pytest.raises(ValidationError):
        paykit.purge_old_records(
            session,
            policy=paykit.RetentionPolicy(sessions=timedelta(days=-1)),
            clock=FrozenClock(NOW),
        )


def test_the_cli_purges_with_an_archive(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    paykit.migrate(engine)
    long_ago = datetime.now(UTC) - timedelta(days=800)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = f.user(session)
        session.add(
            m.AuditLog(
                action="user.login", resource="users", resource_id=user.id, created_at=long_ago
            )
        )
    engine.dispose()
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    archive = tmp_path / "archive.jsonl"
    out_path = tmp_path / "out.txt"
    with out_path.open("w") as out:
        assert main(["--database-url", url, "purge", "--dry-run"], out=out) == 0
        assert main(["--database-url", url, "purge", "--archive", str(archive)], out=out) == 0
    text = out_path.read_text()
    assert "audit_logs: would delete 1 row(s)" in text
    assert "audit_logs: deleted 1 row(s)" in text
    lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert [(r["kind"], r["row"]["resource_id"]) for r in lines] == [("audit_logs", user.id)]
