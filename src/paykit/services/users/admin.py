"""Administration of users: the list with order counts and spend, role and status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidState, PermissionDenied, ValidationError
from paykit.models import Order, User, UserRole, UserStatus
from paykit.models.orders import PAID_PAYMENT
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import Audit
from paykit.services._choices import member
from paykit.services.users._common import _end_sessions, _user

__all__ = ["UserSummary", "list_users", "set_user_role", "set_user_status"]


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A row of :func:`list_users`: the user, their order count and what they spent.

    ``total_spent`` is per currency: the sum over paid orders of total minus
    refunded.
    """

    user: User
    order_count: int
    total_spent: dict[str, Decimal]


@checked
def list_users(
    session: Session,
    *,
    actor: Actor,
    role: UserRole | None = None,
    status: UserStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[UserSummary]:
    """Users (oldest first) with their order count and total spent; ADMIN only."""
    authorize(session, actor, Action.LIST_USERS)
    if not 1 <= limit <= 500 or offset < 0:
        raise ValidationError("limit must be 1-500 and offset >= 0")
    query = sa.select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
    if role is not None:
        query = query.where(User.role == role)
    if status is not None:
        query = query.where(User.status == status)
    users = list(session.scalars(query))
    ids = [u.id for u in users]
    counts: dict[str, int] = {}
    spent: dict[str, dict[str, Decimal]] = {}
    if ids:
        for user_id, count in session.execute(
            sa.select(Order.user_id, sa.func.count(Order.id))
            .where(Order.user_id.in_(ids))
            .group_by(Order.user_id)
        ):
            counts[user_id] = int(count)
        # Two sums rather than a difference: each keeps the exact money type.
        for user_id, currency, total, refunded in session.execute(
            sa.select(
                Order.user_id,
                Order.currency,
                sa.func.sum(Order.total_amount),
                sa.func.sum(Order.refunded_amount),
            )
            .where(Order.user_id.in_(ids), Order.payment_status.in_(PAID_PAYMENT))
            .group_by(Order.user_id, Order.currency)
        ):
            spent.setdefault(user_id, {})[currency] = total - refunded
    return [UserSummary(u, counts.get(u.id, 0), spent.get(u.id, {})) for u in users]


def _admin_change(session: Session, actor: Actor, user_id: str) -> User:
    authorize(session, actor, Action.MANAGE_USERS)
    if actor.user_id == user_id:
        # An admin demoting or suspending themselves could lock everyone out.
        raise PermissionDenied(
            "admins cannot change their own role or status", code="self_change_forbidden"
        )
    user = _user(session, user_id)
    if user.status is UserStatus.DELETED:
        raise InvalidState("a deleted user cannot change", code="user_deleted")
    return user


def _admin_set(
    session: Session,
    actor: Actor,
    user_id: str,
    field: str,
    value: UserRole | UserStatus,
    audit: Audit,
    *,
    then: Callable[[User], dict[str, Any]] | None = None,
) -> User:
    """Set the user's ``role`` or ``status``; if it changed, run ``then`` (its result is
    the audit row's metadata) and audit ``user.<field>_changed``."""
    user = _admin_change(session, actor, user_id)
    old = getattr(user, field)
    if old is not value:
        setattr(user, field, value)
        user.updated_at = audit.now
        metadata = then(user) if then is not None else None
        audit.record(
            f"user.{field}_changed",
            "users",
            user.id,
            old={field: old.value},
            new={field: value.value},
            metadata=metadata,
        )
    return user


@checked
def set_user_role(
    session: Session,
    *,
    actor: Actor,
    user_id: str,
    role: UserRole | str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Change a user's role; ADMIN only, and never the admin's own."""
    audit = Audit(session, resolve_clock(clock).now(), actor.user_id, context)
    new_role = member(UserRole, role, "role")
    return _admin_set(session, actor, user_id, "role", new_role, audit)


@checked
def set_user_status(
    session: Session,
    *,
    actor: Actor,
    user_id: str,
    status: UserStatus | str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Set ACTIVE, INACTIVE or SUSPENDED; ADMIN only. Suspending ends the user's sessions.

    DELETED is refused here: :func:`~paykit.services.users.delete_user` also erases personal
    data.
    """
    audit = Audit(session, resolve_clock(clock).now(), actor.user_id, context)
    new_status = member(UserStatus, status, "status")
    if new_status is UserStatus.DELETED:
        raise ValidationError("use delete_user() to delete a user", code="use_delete_user")

    def end_sessions(user: User) -> dict[str, Any]:
        ended = _end_sessions(session, user.id) if new_status is UserStatus.SUSPENDED else 0
        return {"sessions_ended": ended}

    return _admin_set(session, actor, user_id, "status", new_status, audit, then=end_sessions)
