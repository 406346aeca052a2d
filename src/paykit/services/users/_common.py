"""What the user services share: time limits, the SYSTEM scope of the auth flows, lookups."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.errors import AccountDisabled, PermissionDenied
from paykit.models import Session as UserSession
from paykit.models import User, UserStatus
from paykit.security.encryption import require_keyring
from paykit.security.passwords import PasswordHasher
from paykit.security.policy import Action, Actor, authorize
from paykit.security.rls import system_scope
from paykit.security.tokens import hash_token
from paykit.services._rows import load
from paykit.services._sql import affected
from paykit.services.throttle import LoginThrottle, reserve_login_attempt

__all__ = [
    "DEFAULT_SESSION_TTL",
    "EMAIL_VERIFICATION_TTL",
    "PASSWORD_RESET_TTL",
    "PERSONAL_FIELDS",
    "SESSION_TOKEN_PREFIX",
]

#: How long a login session lasts unless the caller says otherwise.
DEFAULT_SESSION_TTL = timedelta(days=14)
#: How long an email-verification link works.
EMAIL_VERIFICATION_TTL = timedelta(hours=48)
#: How long a password-reset link works: short, since it grants the account.
PASSWORD_RESET_TTL = timedelta(hours=1)
#: User columns encrypted at rest (``paykit.security.ENCRYPTED_COLUMNS``).
PERSONAL_FIELDS = ("phone", "date_of_birth", "tax_id", "billing_address")

SESSION_TOKEN_PREFIX = "pks"


_DISABLED = (UserStatus.SUSPENDED, UserStatus.DELETED)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _as_system(
    function: Callable[Concatenate[Session, _P], _R],
) -> Callable[Concatenate[Session, _P], _R]:
    """Run an authentication step with SYSTEM visibility under row-level security.

    Registration, login and the token flows run before anyone is known (or on
    behalf of the user a token names), so they cannot rely on the caller's
    actor; the previous actor is restored afterwards.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> _R:
        # The session may come by position or, as the signature allows, by name.
        session = args[0] if args else kwargs["session"]
        with system_scope(session):
            return function(*args, **kwargs)

    return cast(Callable[Concatenate[Session, _P], _R], wrapper)


def _hasher(hasher: PasswordHasher | None) -> PasswordHasher:
    return hasher if hasher is not None else PasswordHasher()


def _user(session: Session, user_id: str) -> User:
    return load(session, User, user_id, "user")


def _require_keys_for(values: Mapping[str, Any]) -> None:
    # Fail with a clear ConfigurationError before any write, rather than a
    # StatementError from inside the flush.
    if any(values.get(name) is not None for name in PERSONAL_FIELDS):
        require_keyring()


def _end_sessions(session: Session, user_id: str, *, keep_token: str | None = None) -> int:
    statement = sa.delete(UserSession).where(UserSession.user_id == user_id)
    if keep_token is not None:
        statement = statement.where(UserSession.token != hash_token(keep_token))
    with system_scope(session):
        return affected(session, statement)


def _reserve_attempt(
    session: Session,
    email: object,
    throttle: LoginThrottle | None,
    clock: Clock | None,
    context: RequestContext | None,
) -> Sequence[tuple[str, str]]:
    """The login-attempt counters ``throttle`` reserves for ``email`` and the request's
    IP address (``TooManyAttempts`` past its limit); none without a throttle."""
    if throttle is None:
        return ()
    return reserve_login_attempt(
        session,
        email=email,
        ip_address=context.ip_address if context else None,
        throttle=throttle,
        clock=clock,
    )


def _enabled(user: User) -> User:
    """``user``, unless the account is suspended or deleted (``AccountDisabled``)."""
    if user.status in _DISABLED:
        raise AccountDisabled(f"this account is {user.status.value.lower()}")
    return user


def _self_or_admin(session: Session, actor: Actor, user_id: str) -> None:
    if actor.user_id == user_id:
        me = session.get(User, actor.user_id)
        if me is None or me.status in _DISABLED:
            raise PermissionDenied(
                "an active user is required", details={"actor_id": actor.user_id}
            )
        return
    authorize(session, actor, Action.MANAGE_USERS)
