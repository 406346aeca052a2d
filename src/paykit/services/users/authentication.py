"""Authentication: login, one bcrypt cost whatever fails, throttled and audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import AccountDisabled, AuthenticationError, TooManyAttempts, ValidationError
from paykit.models import Session as UserSession
from paykit.models import User
from paykit.schemas.base import validate
from paykit.schemas.users import LoginInput
from paykit.security.passwords import PasswordHasher
from paykit.security.rls import system_scope
from paykit.security.tokens import hash_token, new_token
from paykit.services._audit import Audit
from paykit.services.throttle import (
    DEFAULT_LOGIN_THROTTLE,
    LoginThrottle,
    release_login_attempt,
)
from paykit.services.users._common import (
    _DISABLED,
    DEFAULT_SESSION_TTL,
    SESSION_TOKEN_PREFIX,
    _as_system,
    _hasher,
    _reserve_attempt,
)

__all__ = ["LoginResult", "login"]


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful login: the user, the session row, and the plain token.

    ``token`` exists only here: the database keeps its SHA-256. Hand it to the
    client (an HttpOnly cookie, say) and forget it.
    """

    user: User
    session: UserSession
    token: str = field(repr=False)


def _login_failed(
    session: Session,
    *,
    user: User | None,
    reason: str,
    now: datetime,
    context: RequestContext | None,
) -> None:
    Audit(session, now, None, context).record(
        "user.login_failed",
        "users",
        user.id if user is not None else None,
        metadata={"reason": reason},
    )


@checked(any_text=frozenset({"email", "password"}))
@_as_system
def login(
    session: Session,
    *,
    email: str,
    password: str,
    hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
    session_ttl: timedelta = DEFAULT_SESSION_TTL,
    throttle: LoginThrottle | None = DEFAULT_LOGIN_THROTTLE,
) -> LoginResult:
    """Check email and password and open a session; the token is in the result, once.

    Every failure costs one bcrypt verification, whether the email is unknown,
    malformed or the password wrong (a dummy hash stands in for a missing
    user), and every failure is the same ``AuthenticationError``. Only with the
    right password does a SUSPENDED or DELETED user learn why
    (``AccountDisabled``). Sets ``last_login_at``; rehashes a password stored
    at a lower cost than ``hasher``'s, or in another system's plain bcrypt.

    ``throttle`` (default: 5 attempts per 15 minutes per e-mail and per
    ``context.ip_address``; ``None`` turns it off) refuses further attempts
    with ``TooManyAttempts`` (429, ``details["retry_after"]`` in seconds)
    before any password is checked; see :mod:`paykit.services.throttle`.
    """
    now = resolve_clock(clock).now()
    hash_with = _hasher(hasher)
    try:
        counters = _reserve_attempt(session, email, throttle, clock, context)
    except TooManyAttempts:  # no user lookup: the refusal is the same for every address
        _login_failed(session, user=None, reason="throttled", now=now, context=context)
        raise
    try:
        credentials = validate(LoginInput, {"email": email, "password": password})
    except ValidationError:
        credentials = None
    user = (
        session.scalar(sa.select(User).where(User.email == credentials.email))
        if credentials is not None
        else None
    )
    # Always exactly one bcrypt verification: against the user's hash, or a dummy.
    ok = hash_with.verify(
        password if isinstance(password, str) else "", user.password if user else None
    )
    if credentials is None or user is None or not ok:
        reason = (
            "malformed"
            if credentials is None
            else "unknown_email"
            if user is None
            else ("bad_password")
        )
        _login_failed(session, user=user, reason=reason, now=now, context=context)
        raise AuthenticationError("invalid email or password")
    if user.status in _DISABLED:
        _login_failed(
            session, user=user, reason=f"status_{user.status.value}", now=now, context=context
        )
        raise AccountDisabled(
            f"this account is {user.status.value.lower()}", details={"status": user.status.value}
        )
    if user.password is not None and hash_with.needs_rehash(user.password):
        user.password = hash_with.hash(credentials.password)
    release_login_attempt(session, counters)
    return _open_session(session, user, now=now, ttl=session_ttl, context=context)


def _open_session(
    session: Session,
    user: User,
    *,
    now: datetime,
    ttl: timedelta,
    context: RequestContext | None,
) -> LoginResult:
    """The session row of a successful login, its audit row, and the plain token."""
    token = new_token(SESSION_TOKEN_PREFIX)
    row = UserSession(
        user_id=user.id,
        token=hash_token(token),
        expires_at=now + ttl,
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else None,
        created_at=now,
    )
    user.last_login_at = now
    user.updated_at = now
    with system_scope(session):
        session.add(row)
        session.flush()
    Audit(session, now, user.id, context).record(
        "user.login", "sessions", row.id, new={"user_id": user.id, "expires_at": row.expires_at}
    )
    return LoginResult(user=user, session=row, token=token)
