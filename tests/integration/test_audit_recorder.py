"""``Audit``: the audit recorder a service binds once per call."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit import models as m
from paykit.context import RequestContext
from paykit.services._audit import Audit, apply_changes

NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)
CTX = RequestContext(ip_address="198.51.100.7", user_agent="Agent/1")


def _rows(session: Session) -> list[m.AuditLog]:
    return list(session.scalars(sa.select(m.AuditLog).order_by(m.AuditLog.id)))


def test_record_writes_the_bound_fields(session: Session) -> None:
    audit = Audit(session, NOW, None, CTX)
    row = audit.record("thing.done", "things", "t1", old={"a": 1}, new={"a": 2}, metadata={"n": 3})
    (stored,) = _rows(session)
    assert stored.id == row.id
    assert (stored.action, stored.resource, stored.resource_id) == ("thing.done", "things", "t1")
    assert stored.user_id is None
    assert stored.created_at == NOW
    assert (stored.old_values, stored.new_values, stored.metadata_) == (
        {"a": 1},
        {"a": 2},
        {"n": 3},
    )
    assert (stored.ip_address, stored.user_agent) == (CTX.ip_address, CTX.user_agent)


def test_changes_audits_only_a_real_change(session: Session) -> None:
    thing = SimpleNamespace(id="t2", name="old", updated_at=None)
    audit = Audit(session, NOW, None, None)
    old, new = apply_changes(thing, {"name": "old"}, keep_on_none=lambda _: True)
    audit.changes(thing, old, new, action="thing.renamed", resource="things")
    assert _rows(session) == []
    assert thing.updated_at is None
    old, new = apply_changes(thing, {"name": "new"}, keep_on_none=lambda _: True)
    audit.changes(thing, old, new, action="thing.renamed", resource="things")
    (stored,) = _rows(session)
    assert (stored.old_values, stored.new_values) == ({"name": "old"}, {"name": "new"})
    assert thing.updated_at == NOW
