"""System configuration (typed, audited, admin-only) and support ticket workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import (
    ConfigurationError,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from paykit.security import Actor

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
CLOCK = FrozenClock(T0)


def _actor(session: Session, role: m.UserRole = m.UserRole.CUSTOMER) -> Actor:
    return Actor.of(f.user(session, role=role))


# --- configuration --------------------------------------------------------------------


def test_unset_keys_read_their_defaults(session: Session) -> None:
    assert paykit.get_config(session, "orders.hold_minutes") == 30
    values = paykit.get_config_values(session)
    assert values["downloads.link_ttl_hours"] == 24
    assert set(values) == set(paykit.DEFAULT_CONFIG.keys)


def test_admin_sets_a_typed_value_with_an_audit_row(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    assert (
        paykit.set_config(session, actor=admin, key="orders.hold_minutes", value=45, clock=CLOCK)
        == 45
    )
    assert paykit.get_config(session, "orders.hold_minutes") == 45
    paykit.set_config(session, actor=admin, key="orders.hold_minutes", value=60, clock=CLOCK)
    paykit.set_config(session, actor=admin, key="orders.hold_minutes", value=60, clock=CLOCK)
    rows = session.scalars(
        sa.select(m.AuditLog)
        .where(m.AuditLog.action == "config.changed", m.AuditLog.user_id == admin.user_id)
        .order_by(m.AuditLog.id)  # one clock instant: ids keep the order of writing
    ).all()
    assert [(r.old_values["value"], r.new_values["value"]) for r in rows] == [
        (None, "45"),
        ("45", "60"),
    ]  # setting the same value again writes nothing


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("orders.hold_minutes", 0),
        ("orders.hold_minutes", "45"),
        ("orders.hold_minutes", 4.5),
        ("orders.hold_minutes", True),
        ("orders.hold_minutes", None),
        ("reviews.verified_only", "yes"),
        ("store.name", ""),
        ("store.name", "x" * 201),
    ],
)
def test_values_that_do_not_fit_are_refused(session: Session, key: str, value: Any) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    with pytest.raises(ValidationError) as caught:
        paykit.set_config(session, actor=admin, key=key, value=value, clock=CLOCK)
    assert caught.value.code == "invalid_config_value"
    assert session.scalar(sa.select(m.SystemConfig).where(m.SystemConfig.key == key)) is None


def test_unknown_keys_and_non_admins_are_refused(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    with pytest.raises(NotFound) as caught:
        paykit.get_config(session, "no.such.key")
    assert caught.value.code == "unknown_config_key"
    with pytest.raises(NotFound):
        paykit.set_config(session, actor=admin, key="no.such.key", value=1, clock=CLOCK)
    for role in (m.UserRole.CUSTOMER, m.UserRole.SUPPORT):
        with pytest.raises(PermissionDenied):
            paykit.set_config(
                session, actor=_actor(session, role), key="store.name", value="Shop", clock=CLOCK
            )


def test_a_hand_edited_value_that_no_longer_fits_is_reported(session: Session) -> None:
    session.add(m.SystemConfig(key="orders.hold_minutes", value='"soon"'))
    session.flush()
    with pytest.raises(ConfigurationError) as caught:
        paykit.get_config(session, "orders.hold_minutes")
    assert caught.value.code == "stored_config_invalid"


def test_hosts_add_their_own_keys(session: Session) -> None:
    registry = paykit.DEFAULT_CONFIG.with_keys(
        paykit.ConfigKey("shop.max_seats", pydantic.conint(ge=1), 5, "Seats per plan")
    )
    admin = _actor(session, m.UserRole.ADMIN)
    assert paykit.get_config(session, "shop.max_seats", registry=registry) == 5
    paykit.set_config(
        session, actor=admin, key="shop.max_seats", value=9, registry=registry, clock=CLOCK
    )
    assert paykit.get_config(session, "shop.max_seats", registry=registry) == 9
    with pytest.raises(NotFound):
        paykit.get_config(session, "shop.max_seats")  # not in paykit's own registry
    with pytest.raises(ConfigurationError):
        paykit.ConfigRegistry({"bad": paykit.ConfigKey("bad", pydantic.conint(ge=1), 0, "x")})


# --- support tickets ------------------------------------------------------------------


def _ticket(session: Session, actor: Actor, at: datetime = T0, **kw: Any) -> m.SupportTicket:
    return paykit.open_ticket(
        session,
        actor=actor,
        subject=kw.pop("subject", "Help"),
        description="It broke.",
        clock=FrozenClock(at),
        **kw,
    )


def test_staff_move_tickets_along_the_workflow(session: Session) -> None:
    alice = _actor(session)
    support = _actor(session, m.UserRole.SUPPORT)
    ticket = _ticket(session, alice)
    moved = paykit.set_ticket_status(
        session, actor=support, ticket_id=ticket.id, status="in_progress", clock=CLOCK
    )
    assert (moved.status, moved.resolved_at) == ("IN_PROGRESS", None)
    done = paykit.set_ticket_status(
        session, actor=support, ticket_id=ticket.id, status="RESOLVED", clock=CLOCK
    )
    assert done.resolved_at == T0
    reopened = paykit.set_ticket_status(
        session, actor=alice, ticket_id=ticket.id, status="OPEN", clock=CLOCK
    )
    assert (reopened.status, reopened.resolved_at) == ("OPEN", None)
    closed = paykit.set_ticket_status(
        session, actor=alice, ticket_id=ticket.id, status="CLOSED", clock=CLOCK
    )
    assert closed.status == "CLOSED"
    with pytest.raises(PermissionDenied):
        paykit.set_ticket_status(
            session, actor=alice, ticket_id=ticket.id, status="OPEN", clock=CLOCK
        )
    with pytest.raises(InvalidState) as caught:
        paykit.set_ticket_status(
            session, actor=support, ticket_id=ticket.id, status="RESOLVED", clock=CLOCK
        )
    assert caught.value.code == "invalid_ticket_transition"
    audit = session.scalars(
        sa.select(m.AuditLog.action).where(
            m.AuditLog.resource_id == ticket.id, m.AuditLog.action == "ticket.status_changed"
        )
    ).all()
    assert len(audit) == 4


def test_customers_cannot_work_tickets_or_see_others(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    ticket = _ticket(session, alice)
    with pytest.raises(PermissionDenied):
        paykit.set_ticket_status(
            session, actor=alice, ticket_id=ticket.id, status="IN_PROGRESS", clock=CLOCK
        )
    with pytest.raises(NotFound):
        paykit.set_ticket_status(
            session, actor=bob, ticket_id=ticket.id, status="CLOSED", clock=CLOCK
        )
    with pytest.raises(ValidationError) as caught:
        paykit.set_ticket_status(
            session, actor=alice, ticket_id=ticket.id, status="DONE", clock=CLOCK
        )
    assert caught.value.code == "invalid_status"


def test_tickets_are_assigned_to_active_staff_only(session: Session) -> None:
    alice = _actor(session)
    support, admin = _actor(session, m.UserRole.SUPPORT), _actor(session, m.UserRole.ADMIN)
    ticket = _ticket(session, alice)
    assigned = paykit.assign_ticket(
        session, actor=admin, ticket_id=ticket.id, assignee_id=support.user_id, clock=CLOCK
    )
    assert assigned.assignee_id == support.user_id
    for bad in (
        alice.user_id,
        "nobody",
        f.user(session, role=m.UserRole.SUPPORT, status=m.UserStatus.SUSPENDED).id,
    ):
        with pytest.raises(ValidationError) as caught:
            paykit.assign_ticket(
                session, actor=admin, ticket_id=ticket.id, assignee_id=bad, clock=CLOCK
            )
        assert caught.value.code == "invalid_assignee"
    with pytest.raises(PermissionDenied):
        paykit.assign_ticket(
            session, actor=alice, ticket_id=ticket.id, assignee_id=support.user_id, clock=CLOCK
        )
    cleared = paykit.assign_ticket(
        session, actor=support, ticket_id=ticket.id, assignee_id=None, clock=CLOCK
    )
    assert cleared.assignee_id is None


def test_ticket_listings_by_role_filter_and_page(session: Session) -> None:
    start = datetime(2091, 1, 1, tzinfo=UTC)
    alice, bob = _actor(session), _actor(session)
    support = _actor(session, m.UserRole.SUPPORT)
    mine = [_ticket(session, alice, start + timedelta(minutes=i // 2)).id for i in range(5)]
    theirs = _ticket(session, bob, start, priority="HIGH")
    page = paykit.list_tickets(session, actor=alice, limit=2)
    seen = [t.id for t in page.items]
    while page.next_cursor:
        page = paykit.list_tickets(session, actor=alice, limit=2, cursor=page.next_cursor)
        seen += [t.id for t in page.items]
    assert sorted(seen) == sorted(mine)
    assert len(seen) == 5
    with pytest.raises(PermissionDenied):
        paykit.list_tickets(session, actor=alice, customer_id=bob.user_id)
    staff = paykit.list_tickets(session, actor=support, customer_id=bob.user_id)
    assert [t.id for t in staff.items] == [theirs.id]
    urgent = paykit.list_tickets(session, actor=support, priority="high", customer_id=bob.user_id)
    assert [t.id for t in urgent.items] == [theirs.id]
    first = paykit.list_tickets(session, actor=alice, limit=2)
    with pytest.raises(ValidationError) as caught:
        paykit.list_tickets(session, actor=bob, cursor=first.next_cursor)
    assert caught.value.code == "invalid_cursor"
