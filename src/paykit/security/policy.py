"""Who may do what: the ``Actor`` hosts pass to services, and the one policy table.

The table is the whole authorization model, so it can be read in one glance
and tested row by row (``tests/integration/test_authz.py``). Services call
:func:`authorize`, which checks the acting user's role *as stored now* -- a
stale ``Actor`` built before a demotion or a suspension grants nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from paykit._arguments import check_fields
from paykit.errors import NotFound, PermissionDenied, ValidationError
from paykit.models.enums import UserRole, UserStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from paykit.models.users import User

__all__ = [
    "POLICY",
    "Action",
    "Actor",
    "acting_user_id",
    "allows",
    "authorize",
    "authorize_owner",
    "require",
]


class Action(StrEnum):
    """Something only some roles may do."""

    ISSUE_REFUND = "refund.issue"
    MANAGE_PRODUCTS = "product.manage"
    MANAGE_PRICES = "price.manage"
    MANAGE_DISCOUNTS = "discount.manage"
    LIST_USERS = "user.list"
    MANAGE_USERS = "user.manage"  # another user's profile, role, status, deletion
    READ_ANY_ORDER = "order.read_any"
    CANCEL_ANY_ORDER = "order.cancel_any"  # another customer's unpaid order
    MANAGE_ANY_SUBSCRIPTION = "subscription.manage_any"  # change, cancel, resume another's
    READ_INTERNAL_NOTES = "order.read_internal_notes"
    WRITE_INTERNAL_NOTES = "order.write_internal_notes"
    READ_ANY_TICKET = "ticket.read_any"
    WRITE_ANY_TICKET = "ticket.write_any"
    READ_INTERNAL_MESSAGES = "ticket.read_internal_messages"
    WRITE_INTERNAL_MESSAGES = "ticket.write_internal_messages"
    MODERATE_REVIEWS = "review.moderate"  # hide, show and delete anyone's review
    MANAGE_CONFIG = "config.manage"  # set system configuration
    MANAGE_ANY_BILLING = "billing.manage_any"  # another's payment methods, invoices, checkout
    VOID_INVOICE = "invoice.void"  # void an open invoice (nobody owes it any more)


_STAFF = frozenset({UserRole.SUPPORT, UserRole.ADMIN})
_ADMIN = frozenset({UserRole.ADMIN})

#: Action -> the roles allowed to perform it. A CUSTOMER appears in no row:
#: customers act only on their own rows, which the services check by ownership.
POLICY: Mapping[Action, frozenset[UserRole]] = MappingProxyType(
    {
        Action.ISSUE_REFUND: _STAFF,
        Action.MANAGE_PRODUCTS: _ADMIN,
        Action.MANAGE_PRICES: _ADMIN,
        Action.MANAGE_DISCOUNTS: _ADMIN,
        Action.LIST_USERS: _ADMIN,
        Action.MANAGE_USERS: _ADMIN,
        Action.READ_ANY_ORDER: _STAFF,
        Action.CANCEL_ANY_ORDER: _STAFF,
        Action.MANAGE_ANY_SUBSCRIPTION: _STAFF,
        Action.READ_INTERNAL_NOTES: _STAFF,
        Action.WRITE_INTERNAL_NOTES: _STAFF,
        Action.READ_ANY_TICKET: _STAFF,
        Action.WRITE_ANY_TICKET: _STAFF,
        Action.READ_INTERNAL_MESSAGES: _STAFF,
        Action.WRITE_INTERNAL_MESSAGES: _STAFF,
        Action.MODERATE_REVIEWS: _STAFF,
        Action.MANAGE_CONFIG: _ADMIN,
        Action.MANAGE_ANY_BILLING: _STAFF,
        Action.VOID_INVOICE: _ADMIN,
    }
)


@dataclass(frozen=True, slots=True)
class Actor:
    """The user a service call acts for: id and role, as the host authenticated them."""

    user_id: str
    role: UserRole

    def __post_init__(self) -> None:
        # A host may pass the role as stored text ("ADMIN"); identity checks need the member.
        if not isinstance(self.role, UserRole):
            try:
                object.__setattr__(self, "role", UserRole(self.role))
            except ValueError:
                raise ValidationError(
                    f"unknown role {self.role!r}", details={"field": "role"}
                ) from None
        check_fields(self)

    @classmethod
    def of(cls, user: User) -> Actor:
        """The actor for a loaded user (e.g. the one ``validate_session`` returned)."""
        return cls(user.id, user.role)

    @property
    def is_staff(self) -> bool:
        """True for SUPPORT and ADMIN."""
        return self.role in _STAFF


def allows(role: UserRole, action: Action) -> bool:
    """True if the policy table lets ``role`` do ``action``."""
    return role in POLICY[action]


def require(actor: Actor | None, action: Action) -> None:
    """Raise ``PermissionDenied`` unless ``actor``'s role may do ``action`` (a pure check)."""
    if actor is None or not allows(actor.role, action):
        raise PermissionDenied(
            f"{actor.role.value if actor else 'anonymous'} may not {action.value}",
            details={"action": action.value, "actor_id": actor.user_id if actor else None},
        )


def authorize(session: Session, actor: Actor | None, action: Action) -> User:
    """Check ``action`` against the actor's user row as it is now; returns that user.

    Refused (``PermissionDenied``) when there is no actor, the user does not
    exist or is not ACTIVE, or its current role is not allowed.
    """
    from paykit.models.users import User

    user = session.get(User, actor.user_id) if actor is not None else None
    if actor is None or user is None or user.status is not UserStatus.ACTIVE:
        raise PermissionDenied(
            f"{action.value} needs an active, authenticated user",
            details={"action": action.value, "actor_id": actor.user_id if actor else None},
        )
    require(Actor(user.id, user.role), action)
    return user


def acting_user_id(actor: Actor | None, actor_id: str | None) -> str | None:
    """The acting user's id, from an ``Actor`` or a bare id (both given must agree)."""
    if actor is not None and not isinstance(actor, Actor):
        raise ValidationError("actor must be a paykit Actor", details={"field": "actor"})
    if actor_id is not None and not isinstance(actor_id, str):
        raise ValidationError("actor_id must be a string", details={"field": "actor_id"})
    if actor is None:
        return actor_id
    if actor_id is not None and actor_id != actor.user_id:
        raise ValidationError("actor and actor_id name different users", code="actor_mismatch")
    return actor.user_id


def authorize_owner(
    session: Session,
    actor_id: str | None,
    *,
    owner_id: str,
    action: Action,
    missing: NotFound,
) -> None:
    """The one rule for a customer's resource: its owner, or a role ``action`` allows.

    ``actor_id`` None is the host acting on its own authority (a webhook, a
    job). Otherwise the acting user must exist and be ACTIVE
    (``PermissionDenied``); anyone else gets ``missing``, so the id of another
    customer's row is not confirmed.
    """
    if actor_id is None:
        return
    from paykit.models.users import User

    user = session.get(User, actor_id)
    if user is None or user.status is not UserStatus.ACTIVE or user.deleted_at is not None:
        raise PermissionDenied(
            f"{action.value} needs an active, authenticated user",
            details={"action": action.value, "actor_id": actor_id},
        )
    if user.id != owner_id and not allows(user.role, action):
        raise missing
