"""Accounts: registration and profile changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import EmailTaken, InvalidState
from paykit.models import User, UserRole, UserStatus
from paykit.schemas.users import ProfileUpdate, RegisterUserInput
from paykit.security.passwords import PasswordHasher
from paykit.security.policy import Actor
from paykit.services._audit import Audit, apply_changes
from paykit.services._inputs import parsed
from paykit.services._rows import insert_or
from paykit.services.users._common import (
    _as_system,
    _hasher,
    _require_keys_for,
    _self_or_admin,
    _user,
)

__all__ = ["register_user", "update_profile"]


@checked
@_as_system
def register_user(
    session: Session,
    data: RegisterUserInput | Mapping[str, Any],
    *,
    hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Create a CUSTOMER from seed section 5.1's registration fields.

    The email is lower-cased and must be unique (``EmailTaken``); the password
    (8 characters or more) is stored only as a bcrypt hash. A phone number is
    personal data and needs an encryption key (``ConfigurationError`` without).
    """
    now = resolve_clock(clock).now()
    payload = parsed(RegisterUserInput, data)
    _require_keys_for({"phone": payload.phone})
    if session.scalar(sa.select(User.id).where(User.email == payload.email)) is not None:
        raise EmailTaken("a user with this email already exists")
    user = User(
        email=payload.email,
        password=_hasher(hasher).hash(payload.password),
        name=payload.name,
        first_name=payload.first_name,
        last_name=payload.last_name,
        phone=payload.phone,
        role=UserRole.CUSTOMER,
        status=UserStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    # A parallel registration of the same email loses on the unique constraint.
    insert_or(session, user, EmailTaken("a user with this email already exists"))
    Audit(session, now, user.id, context).record(
        "user.registered",
        "users",
        user.id,
        new={"email": user.email, "name": user.name, "role": user.role.value},
    )
    return user


_DEFAULTED = frozenset({"timezone", "language"})


@checked
def update_profile(
    session: Session,
    *,
    actor: Actor,
    user_id: str,
    changes: ProfileUpdate | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Change profile fields (only those given); a user edits their own, an ADMIN anyone's.

    Personal fields (phone, date of birth, tax id, billing address) are
    encrypted; setting one needs an encryption key. The audit row records which
    fields changed, with personal values masked.
    """
    now = resolve_clock(clock).now()
    payload = parsed(ProfileUpdate, changes)
    _self_or_admin(session, actor, user_id)
    user = _user(session, user_id)
    if user.status is UserStatus.DELETED:
        raise InvalidState("a deleted user's profile cannot change", code="user_deleted")
    values = payload.model_dump(include=payload.model_fields_set, mode="python")
    if payload.billing_address is not None:
        values["billing_address"] = payload.billing_address.model_dump(exclude_none=True)
    _require_keys_for(values)
    # NOT NULL columns with defaults: None means "leave alone".
    old, new = apply_changes(user, values, keep_on_none=_DEFAULTED.__contains__)
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(user, old, new, action="user.profile_updated", resource="users")
    return user
