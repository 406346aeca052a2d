"""Every state-changing user, admin and support service writes a masked audit row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.context import RequestContext
from paykit.errors import AuthenticationError
from paykit.security import Actor, Keyring, PasswordHasher, use_keyring
from paykit.services import admin, support
from paykit.services import users as svc
from paykit.services._audit import MASK, mask_values

FAST = PasswordHasher(rounds=4, allow_weak=True)
CTX = RequestContext(ip_address="198.51.100.4", user_agent="Browser/9")
CLOCK = FrozenClock(datetime(2025, 5, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def _keys() -> Iterator[None]:
    with use_keyring(Keyring.generate()):
        yield


def audits(session: Session) -> list[m.AuditLog]:
    return list(session.scalars(sa.select(m.AuditLog).order_by(m.AuditLog.id)))


def test_every_flow_is_audited_with_request_context(session: Session) -> None:
    common = {"clock": CLOCK, "context": CTX}
    user = svc.register_user(
        session,
        {
            "email": "kim@example.com",
            "password": "s3cret-pass",
            "name": "Kim",
            "phone": "+1 555 0101",
        },
        hasher=FAST,
        **common,
    )
    me = Actor.of(user)
    with pytest.raises(AuthenticationError):
        svc.login(session, email="kim@example.com", password="nope-nope", hasher=FAST, **common)
    with pytest.raises(AuthenticationError):
        svc.login(session, email="ghost@example.com", password="nope-nope", hasher=FAST, **common)
    result = svc.login(
        session, email="kim@example.com", password="s3cret-pass", hasher=FAST, **common
    )
    token = svc.request_email_verification(session, user_id=user.id, **common)
    svc.verify_email(session, token=token, **common)
    svc.update_profile(
        session,
        actor=me,
        user_id=user.id,
        changes={"tax_id": "DE123", "name": "Kimberly"},
        **common,
    )
    svc.change_password(
        session,
        user_id=user.id,
        current_password="s3cret-pass",
        new_password="n3w-secret-pass",
        current_token=result.token,
        hasher=FAST,
        **common,
    )
    reset = svc.request_password_reset(session, email="kim@example.com", **common)
    assert reset is not None
    svc.reset_password(session, token=reset, new_password="an0ther-pass", hasher=FAST, **common)
    svc.revoke_all_sessions(session, user_id=user.id, **common)
    svc.purge_expired_sessions(session, **common)
    boss = Actor.of(f.user(session, role=m.UserRole.ADMIN))
    svc.set_user_role(session, actor=boss, user_id=user.id, role="SUPPORT", **common)
    svc.set_user_status(session, actor=boss, user_id=user.id, status="INACTIVE", **common)
    product = admin.create_product(
        session,
        actor=boss,
        data={
            "name": "Book",
            "description": "A fine book.",
            "base_price": "9",
            "type": "ONE_TIME",
            "slug": "book",
        },
        **common,
    )
    admin.update_product(
        session, actor=boss, product_id=product.id, changes={"featured": True}, **common
    )
    price = admin.create_price(
        session,
        actor=boss,
        product_id=product.id,
        data={"stripe_price_id": "pr_1", "unit_amount": "9"},
        **common,
    )
    admin.set_price_active(session, actor=boss, price_id=price.id, active=False, **common)
    discount = admin.create_discount(
        session,
        actor=boss,
        data={"code": "TENOFF", "name": "Ten", "type": "PERCENTAGE", "value": "10"},
        **common,
    )
    admin.update_discount(
        session, actor=boss, discount_id=discount.id, changes={"active": False}, **common
    )
    ticket = support.open_ticket(
        session, actor=boss, subject="Test", description="Testing", **common
    )
    support.add_ticket_message(session, actor=boss, ticket_id=ticket.id, content="note", **common)
    order = f.order(session, user)
    support.set_order_internal_notes(session, actor=boss, order_id=order.id, notes="vip", **common)
    svc.delete_user(session, actor=boss, user_id=user.id, **common)

    # Less the order factory's own "order.created" row (place_order's, in a real shop).
    rows = [r for r in audits(session) if (r.action, r.resource_id) != ("order.created", order.id)]
    actions = [row.action for row in rows]
    assert actions == [
        "user.registered",
        "user.login_failed",
        "user.login_failed",
        "user.login",
        "user.email_verification_requested",
        "user.email_verified",
        "user.profile_updated",
        "user.password_changed",
        "user.password_reset_requested",
        "user.password_reset",
        "session.revoked_all",
        "sessions.purged",
        "user.role_changed",
        "user.status_changed",
        "product.created",
        "product.updated",
        "price.created",
        "price.updated",
        "discount.created",
        "discount.updated",
        "ticket.opened",
        "ticket.message_added",
        "order.internal_notes_changed",
        "user.deleted",
    ]
    assert all((r.ip_address, r.user_agent) == (CTX.ip_address, CTX.user_agent) for r in rows)
    assert all(r.created_at == CLOCK.now() for r in rows)
    failed = [r for r in rows if r.action == "user.login_failed"]
    assert [(r.resource_id, r.metadata_["reason"], r.user_id) for r in failed] == [
        (user.id, "bad_password", None),
        (None, "unknown_email", None),
    ]
    by_action = {r.action: r for r in rows}
    assert by_action["user.registered"].new_values == {
        "email": MASK,
        "name": MASK,
        "role": "CUSTOMER",
    }
    assert by_action["user.profile_updated"].new_values == {"tax_id": MASK, "name": MASK}
    assert by_action["user.role_changed"].user_id == boss.user_id
    assert by_action["product.created"].new_values["name"] == "Book"  # not personal
    dump = json.dumps([[r.old_values, r.new_values, r.metadata_] for r in rows])
    for secret in (
        "s3cret-pass",
        "n3w-secret-pass",
        "an0ther-pass",
        "kim@example.com",
        "DE123",
        "555 0101",
        "Kimberly",
        token,
        reset,
        result.token,
    ):
        assert secret not in dump


def test_a_failed_login_audit_row_survives_when_the_host_commits(session: Session) -> None:
    with pytest.raises(AuthenticationError):
        svc.login(session, email="who@example.com", password="whatever1", hasher=FAST, clock=CLOCK)
    session.commit()  # the failure's only write is its audit row
    assert [r.action for r in audits(session)] == ["user.login_failed"]


def test_masking_is_recursive_and_keeps_flags() -> None:
    masked = mask_values(
        {
            "email_verified": True,
            "nested": {"phone": "+1", "items": [{"card_last4": "4242", "qty": 2}]},
            "client_secret": "pi_secret",
            "shipping_address": None,
            "name": "Widget",
        }
    )
    assert masked == {
        "email_verified": True,
        "nested": {"phone": MASK, "items": [{"card_last4": MASK, "qty": 2}]},
        "client_secret": MASK,
        "shipping_address": None,
        "name": "Widget",
    }
    assert mask_values({"name": "Ada"}, personal=True) == {"name": MASK}
