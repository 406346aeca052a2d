"""Passwords: change with the current one, or reset with an emailed token."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import AuthenticationError, ValidationError
from paykit.models import User
from paykit.models.users import TokenPurpose
from paykit.schemas.base import validate
from paykit.schemas.users import ChangePasswordInput, LoginInput
from paykit.security.passwords import PasswordHasher
from paykit.services._audit import Audit
from paykit.services.throttle import (
    DEFAULT_LOGIN_THROTTLE,
    LoginThrottle,
    release_login_attempt,
)
from paykit.services.users._common import (
    _DISABLED,
    PASSWORD_RESET_TTL,
    _as_system,
    _enabled,
    _end_sessions,
    _hasher,
    _reserve_attempt,
    _user,
)
from paykit.services.users.tokens import _issue_token, _redeem_token, _void_tokens

__all__ = ["change_password", "request_password_reset", "reset_password"]


def _set_password(
    session: Session, user: User, hashed: str, audit: Audit, action: str, keep_token: str | None
) -> User:
    """Store the new hash, end the sessions (but ``keep_token``'s), void the open reset
    tokens, and audit ``action``."""
    user.password = hashed
    user.updated_at = audit.now
    ended = _end_sessions(session, user.id, keep_token=keep_token)
    _void_tokens(session, user.id, TokenPurpose.PASSWORD_RESET, audit.now)
    audit.record(
        action,
        "users",
        user.id,
        new={"password": "changed"},
        metadata={"sessions_ended": ended},
    )
    return user


@checked
def change_password(
    session: Session,
    *,
    user_id: str,
    current_password: str,
    new_password: str,
    current_token: str | None = None,
    hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
    throttle: LoginThrottle | None = DEFAULT_LOGIN_THROTTLE,
) -> User:
    """Set a new password, proving the current one; ends every other session.

    ``current_token`` is the session the request came with, which stays open;
    without it every session ends. A wrong current password is an
    ``AuthenticationError``. Proving the current password counts as a login
    attempt (``throttle``, the same counters as :func:`login`'s), so a stolen
    session cannot guess the password here either: past the limit the call is
    ``TooManyAttempts``; as for a login, **the host commits after catching
    either error**, or the attempt is not counted.
    """
    now = resolve_clock(clock).now()
    hash_with = _hasher(hasher)
    payload = validate(ChangePasswordInput, {"new_password": new_password})
    if throttle is not None and not isinstance(throttle, LoginThrottle):
        raise ValidationError("throttle must be a LoginThrottle", code="invalid_throttle")
    user = _enabled(_user(session, user_id))
    counters = _reserve_attempt(session, user.email, throttle, clock, context)
    audit = Audit(session, now, user.id, context)
    if not hash_with.verify(current_password, user.password):
        audit.record("user.password_change_failed", "users", user.id)
        raise AuthenticationError("the current password is wrong")
    release_login_attempt(session, counters)
    hashed = hash_with.hash(payload.new_password)
    return _set_password(session, user, hashed, audit, "user.password_changed", current_token)


@checked
@_as_system
def request_password_reset(
    session: Session,
    *,
    email: str,
    ttl: timedelta = PASSWORD_RESET_TTL,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> str | None:
    """A single-use reset token for ``email``'s user, or ``None`` if there is no such
    (active) user. The host should answer the same either way, so the reset
    form does not reveal which addresses have accounts."""
    now = resolve_clock(clock).now()
    try:
        address = validate(LoginInput, {"email": email, "password": ""}).email
    except ValidationError:
        return None
    user = session.scalar(sa.select(User).where(User.email == address))
    token = None
    if user is not None and user.status not in _DISABLED:
        token = _issue_token(session, user, TokenPurpose.PASSWORD_RESET, ttl, now)
    Audit(session, now, None, context).record(
        "user.password_reset_requested",
        "users",
        user.id if user is not None else None,
        metadata={"issued": token is not None},
    )
    return token


@checked
@_as_system
def reset_password(
    session: Session,
    *,
    token: str,
    new_password: str,
    hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Set a new password with a reset token; ends all sessions. The token works once.

    An invalid new password raises ``ValidationError`` and leaves the token usable.
    """
    now = resolve_clock(clock).now()
    payload = validate(ChangePasswordInput, {"new_password": new_password})
    user = _redeem_token(session, token, TokenPurpose.PASSWORD_RESET, now)
    audit = Audit(session, now, user.id, context)
    hashed = _hasher(hasher).hash(payload.new_password)
    return _set_password(session, user, hashed, audit, "user.password_reset", keep_token=None)
