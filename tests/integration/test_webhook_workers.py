"""Webhook workers: deferred ingest, order per object, backoff, dead letter, parallel workers."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.cli import main
from paykit.clock import FrozenClock
from paykit.errors import PaykitError
from paykit.gateways import FakeGateway
from paykit.stripe.handlers import HANDLERS
from paykit.stripe.worker import list_inbox, revive_dead, work_inbox
from paykit.testing import sign_webhook

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_workers"
TYPE = "paykit_test.thing_changed"


class Recorder:
    """A handler that records what it applied and fails on demand."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.failing: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, session: Session, payload: Any, ctx: Any) -> m.WebhookEventStatus:
        event_id = str(payload["id"])
        if event_id in self.failing:
            raise PaykitError(f"{event_id} fails", code="invalid_state")
        with self.lock:
            self.applied.append(event_id)
        return m.WebhookEventStatus.PROCESSED


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    handler = Recorder()
    monkeypatch.setitem(HANDLERS, TYPE, handler)
    return handler


def _deliver(
    session: Session, event_id: str, object_id: str, created: int, clock: FrozenClock
) -> None:
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": TYPE,
            "created": created,
            "livemode": False,
            "api_version": "2024-06-20",
            "data": {"object": {"id": object_id, "object": "thing"}},
        }
    )
    response = paykit.webhooks.handle_webhook(
        session,
        body.encode(),
        sign_webhook(body, SECRET, clock.now()),
        secrets=SECRET,
        gateway=FakeGateway(clock=clock),
        clock=clock,
        defer=True,
    )
    assert response.status_code == 200
    assert response.body["status"] in ("pending", "duplicate")


def _status(session: Session, event_id: str) -> m.WebhookEvent:
    row = session.scalars(
        sa.select(m.WebhookEvent).where(m.WebhookEvent.event_id == event_id)
    ).one()
    session.refresh(row)
    return row


def _work(session: Session, clock: FrozenClock, **kw: Any) -> paykit.stripe.worker.BatchResult:
    return work_inbox(session, gateway=FakeGateway(clock=clock), clock=clock, **kw)


def test_deferred_events_are_applied_by_a_worker_in_order_per_object(
    session: Session, recorder: Recorder
) -> None:
    clock = FrozenClock(T0)
    base = int(T0.timestamp())
    tag = f"{id(session)}"
    # Delivered out of order: the worker applies each object's events oldest first.
    _deliver(session, f"evt_{tag}_a2", f"obj_{tag}_a", base + 2, clock)
    _deliver(session, f"evt_{tag}_a1", f"obj_{tag}_a", base + 1, clock)
    _deliver(session, f"evt_{tag}_b1", f"obj_{tag}_b", base + 1, clock)
    assert recorder.applied == []  # defer=True stores only
    first = _work(session, clock)
    assert first.processed == 2  # a2 waits: a1, older and of the same object, is in this batch
    assert _work(session, clock).processed == 1
    mine = [e for e in recorder.applied if tag in e]
    assert mine.index(f"evt_{tag}_a1") < mine.index(f"evt_{tag}_a2")
    assert _status(session, f"evt_{tag}_a2").status == "processed"
    assert _work(session, clock).idle


def test_a_failure_backs_off_blocks_its_object_and_ends_dead(
    session: Session, recorder: Recorder
) -> None:
    clock = FrozenClock(T0)
    base = int(T0.timestamp())
    tag = f"{id(session)}x"
    first, second, other = f"evt_{tag}_1", f"evt_{tag}_2", f"evt_{tag}_o"
    _deliver(session, first, f"obj_{tag}", base + 1, clock)
    _deliver(session, second, f"obj_{tag}", base + 2, clock)
    _deliver(session, other, f"obj_{tag}_other", base + 3, clock)
    recorder.failing.add(first)
    result = _work(session, clock, max_attempts=2)
    assert (result.failed, result.processed) == (1, 1)  # `other` is not held up
    row = _status(session, first)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "failed",
        1,
        T0 + timedelta(seconds=30),
    )
    assert second not in recorder.applied  # blocked behind the failed event of its object
    assert _work(session, FrozenClock(T0 + timedelta(seconds=10)), max_attempts=2).idle
    later = FrozenClock(T0 + timedelta(seconds=31))
    assert _work(session, later, max_attempts=2).dead == 1
    row = _status(session, first)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 2, None)
    # A dead event blocks nothing: the next one of its object goes on.
    assert _work(session, later, max_attempts=2).processed == 1
    assert second in recorder.applied
    assert [r.event_id for r in list_inbox(session, status="dead", limit=500)].count(first) == 1
    assert paykit.check(session, invariants=["webhook_event_state"]).ok
    # Revived, it gets its attempts back and is applied once the fault is gone.
    recorder.failing.clear()
    assert revive_dead(session, event_ids=[first]) == 1
    row = _status(session, first)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
    assert paykit.check(session, invariants=["webhook_event_state"]).ok
    assert _work(session, later).processed == 1
    assert _status(session, first).status == "processed"


def test_backoff_doubles_and_is_capped(session: Session, recorder: Recorder) -> None:
    clock = FrozenClock(T0)
    tag = f"{id(session)}b"
    event = f"evt_{tag}"
    _deliver(session, event, f"obj_{tag}", int(T0.timestamp()), clock)
    recorder.failing.add(event)
    now = T0
    delays = []
    for _ in range(12):
        _work(session, FrozenClock(now), max_attempts=20)
        row = _status(session, event)
        assert row.next_attempt_at is not None
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(delays) == timedelta(hours=6)


def test_parallel_workers_apply_each_event_once_and_in_order(
    db_factory: Any, recorder: Recorder
) -> None:
    engine = db_factory.migrated()
    clock = FrozenClock(T0)
    base = int(T0.timestamp())
    with Session(engine) as session, session.begin():
        for n in range(120):
            _deliver(session, f"evt_p{n:03d}", f"obj_p{n % 12}", base + n, clock)
    per_object: dict[str, list[int]] = {}

    def work() -> None:
        idle_rounds = 0
        while idle_rounds < 3:
            with Session(engine) as session, session.begin():
                result = work_inbox(
                    session, gateway=FakeGateway(clock=clock), clock=clock, batch_size=5
                )
            idle_rounds = idle_rounds + 1 if result.idle else 0
            time.sleep(0.005)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(recorder.applied) == [f"evt_p{n:03d}" for n in range(120)]  # each once
    for event_id in recorder.applied:
        n = int(event_id[5:])
        per_object.setdefault(f"obj_p{n % 12}", []).append(n)
    for numbers in per_object.values():
        assert numbers == sorted(numbers)  # each object's events in creation order
    with Session(engine) as session:
        attempts = session.scalars(sa.select(m.WebhookEvent.attempts)).all()
        assert set(attempts) == {1}


def test_the_cli_lists_and_revives(tmp_path: Path, recorder: Recorder) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    engine = paykit.create_engine(url)
    paykit.migrate(engine)
    clock = FrozenClock(T0)
    with Session(engine) as session, session.begin():
        _deliver(session, "evt_cli_1", "obj_cli", int(T0.timestamp()), clock)
        session.execute(
            sa.update(m.WebhookEvent).values(status="dead", attempts=8, last_error="boom")
        )
    engine.dispose()
    out_path = tmp_path / "out.txt"
    with out_path.open("w") as out:
        assert main(["--database-url", url, "webhooks", "list", "--status", "dead"], out=out) == 0
        assert main(["--database-url", url, "webhooks", "replay"], out=out) == 0
        assert main(["--database-url", url, "webhooks", "list", "--status", "dead"], out=out) == 0
    text = out_path.read_text()
    assert "evt_cli_1  paykit_test.thing_changed  dead  attempts=8  boom" in text
    assert "revived 1 dead event(s)" in text
    assert text.rstrip().endswith("no events")
