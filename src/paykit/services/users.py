"""Users: registration, login sessions, email verification, passwords, profiles, admin.

Every function takes the session first and flushes, never commits. Time comes
from ``clock``; the request's IP address and user agent from ``context``
(recorded on the session row and in the audit log). Password hashing uses
``hasher`` (a :class:`~paykit.security.PasswordHasher`, bcrypt cost 12 unless
a test asks for less).

Failed logins are audited and counted: :func:`login` flushes a
``user.login_failed`` audit row and its throttling count
(:mod:`paykit.services.throttle`) before it raises ``AuthenticationError`` or
``TooManyAttempts``. Those are the failed call's only writes, and a host
commits after catching the error, or throttling does not see the attempt
(docs/security.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    AccountDisabled,
    AuthenticationError,
    EmailTaken,
    InvalidState,
    InvalidToken,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    ValidationError,
)
from paykit.models import Order, PaymentStatus, User, UserRole, UserStatus
from paykit.models import Session as UserSession
from paykit.models.users import TokenPurpose, UserToken
from paykit.schemas.base import validate
from paykit.schemas.users import (
    ChangePasswordInput,
    LoginInput,
    ProfileUpdate,
    RegisterUserInput,
)
from paykit.security.encryption import require_keyring
from paykit.security.passwords import PasswordHasher
from paykit.security.policy import Action, Actor, authorize
from paykit.security.rls import system_scope
from paykit.security.tokens import hash_token, new_token
from paykit.services._audit import record_audit
from paykit.services._sql import affected
from paykit.services.erasure import erase_copies
from paykit.services.throttle import (
    DEFAULT_LOGIN_THROTTLE,
    LoginThrottle,
    release_login_attempt,
    reserve_login_attempt,
)

__all__ = [
    "DEFAULT_SESSION_TTL",
    "EMAIL_VERIFICATION_TTL",
    "PASSWORD_RESET_TTL",
    "PERSONAL_FIELDS",
    "LoginResult",
    "UserSummary",
    "change_password",
    "delete_user",
    "list_users",
    "login",
    "purge_expired_sessions",
    "register_user",
    "request_email_verification",
    "request_password_reset",
    "reset_password",
    "revoke_all_sessions",
    "revoke_session",
    "set_user_role",
    "set_user_status",
    "update_profile",
    "validate_session",
    "verify_email",
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
_TOKEN_PREFIX = {TokenPurpose.EMAIL_VERIFICATION: "pkv", TokenPurpose.PASSWORD_RESET: "pkr"}
_DISABLED = (UserStatus.SUSPENDED, UserStatus.DELETED)
_PAID = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful login: the user, the session row, and the plain token.

    ``token`` exists only here: the database keeps its SHA-256. Hand it to the
    client (an HttpOnly cookie, say) and forget it.
    """

    user: User
    session: UserSession
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A row of :func:`list_users`: the user, their order count and what they spent.

    ``total_spent`` is per currency: the sum over paid orders of total minus
    refunded.
    """

    user: User
    order_count: int
    total_spent: dict[str, Decimal]


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
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", details={"user_id": user_id})
    return user


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


def _void_tokens(session: Session, user_id: str, purpose: TokenPurpose, now: datetime) -> None:
    affected(
        session,
        sa.update(UserToken)
        .where(
            UserToken.user_id == user_id,
            UserToken.purpose == purpose.value,
            UserToken.used_at.is_(None),
        )
        .values(used_at=now),
    )


def _issue_token(
    session: Session, user: User, purpose: TokenPurpose, ttl: timedelta, now: datetime
) -> str:
    # One outstanding token per purpose: a new link voids the older ones.
    _void_tokens(session, user.id, purpose, now)
    token = new_token(_TOKEN_PREFIX[purpose])
    session.add(
        UserToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=hash_token(token),
            expires_at=now + ttl,
            created_at=now,
        )
    )
    return token


def _token_user(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> User:
    """The user of an unused, unexpired token (not yet consumed)."""
    row = session.scalar(
        sa.select(UserToken).where(
            UserToken.token_hash == hash_token(token),
            UserToken.purpose == purpose.value,
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
    )
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or user is None:
        raise InvalidToken("invalid or expired token")
    return user


def _consume_token(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> None:
    # The conditional update is the single-use guarantee: of two parallel
    # calls with one token, exactly one changes a row.
    used = affected(
        session,
        sa.update(UserToken)
        .where(
            UserToken.token_hash == hash_token(token),
            UserToken.purpose == purpose.value,
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
        .values(used_at=now),
    )
    if used != 1:
        raise InvalidToken("invalid or expired token")


# --- registration and login ------------------------------------------------------


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
    payload = data if isinstance(data, RegisterUserInput) else validate(RegisterUserInput, data)
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
    try:
        # A parallel registration of the same email loses on the unique constraint.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except sa.exc.IntegrityError:
        raise EmailTaken("a user with this email already exists") from None
    record_audit(
        session,
        action="user.registered",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=user.id,
        new={"email": user.email, "name": user.name, "role": user.role.value},
        context=context,
    )
    session.flush()
    return user


def _login_failed(
    session: Session,
    *,
    user: User | None,
    reason: str,
    now: datetime,
    context: RequestContext | None,
) -> None:
    record_audit(
        session,
        action="user.login_failed",
        resource="users",
        resource_id=user.id if user is not None else None,
        now=now,
        metadata={"reason": reason},
        context=context,
    )
    session.flush()


def _reserve_attempt(
    session: Session,
    email: object,
    throttle: LoginThrottle | None,
    clock: Clock | None,
    context: RequestContext | None,
) -> Sequence[tuple[str, str]]:
    now = resolve_clock(clock).now()
    if throttle is None:
        return ()
    try:
        return reserve_login_attempt(
            session,
            email=email,
            ip_address=context.ip_address if context else None,
            throttle=throttle,
            clock=clock,
        )
    except TooManyAttempts:
        # No user lookup: the refusal is the same for every address.
        _login_failed(session, user=None, reason="throttled", now=now, context=context)
        raise


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
    counters = _reserve_attempt(session, email, throttle, clock, context)
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
    token = new_token(SESSION_TOKEN_PREFIX)
    row = UserSession(
        user_id=user.id,
        token=hash_token(token),
        expires_at=now + session_ttl,
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else None,
        created_at=now,
    )
    user.last_login_at = now
    user.updated_at = now
    with system_scope(session):
        session.add(row)
        session.flush()
    record_audit(
        session,
        action="user.login",
        resource="sessions",
        resource_id=row.id,
        now=now,
        actor_id=user.id,
        new={"user_id": user.id, "expires_at": row.expires_at},
        context=context,
    )
    session.flush()
    return LoginResult(user=user, session=row, token=token)


# --- sessions ---------------------------------------------------------------------


@checked
def validate_session(session: Session, token: str, *, clock: Clock | None = None) -> UserSession:
    """The live session for ``token`` (its ``.user`` loaded), or ``InvalidToken``.

    Unknown, revoked and expired tokens are refused alike, and so is the
    session of a user who has since been suspended or deleted. Reads only.
    """
    now = resolve_clock(clock).now()
    if not isinstance(token, str) or not token:
        raise InvalidToken("invalid or expired session")
    with system_scope(session):
        row = session.scalar(
            sa.select(UserSession)
            .where(UserSession.token == hash_token(token), UserSession.expires_at > now)
            .options(sa.orm.joinedload(UserSession.user))
        )
    if row is None or row.user.status in _DISABLED:
        raise InvalidToken("invalid or expired session")
    return row


@checked
def revoke_session(
    session: Session,
    token: str,
    *,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> bool:
    """Log out: delete the session of ``token``. True if there was one."""
    now = resolve_clock(clock).now()
    with system_scope(session):
        row = session.scalar(sa.select(UserSession).where(UserSession.token == hash_token(token)))
        if row is None:
            return False
        session.delete(row)
        session.flush()
    record_audit(
        session,
        action="session.revoked",
        resource="sessions",
        resource_id=row.id,
        now=now,
        actor_id=row.user_id,
        context=context,
    )
    session.flush()
    return True


@checked
def revoke_all_sessions(
    session: Session,
    *,
    user_id: str,
    except_token: str | None = None,
    actor: Actor | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> int:
    """End every session of ``user_id`` (but ``except_token``'s); the number ended.

    ``actor`` defaults to the user themselves; ending someone else's sessions
    needs ``user.manage`` (ADMIN).
    """
    now = resolve_clock(clock).now()
    if actor is not None and actor.user_id != user_id:
        authorize(session, actor, Action.MANAGE_USERS)
    _user(session, user_id)
    ended = _end_sessions(session, user_id, keep_token=except_token)
    record_audit(
        session,
        action="session.revoked_all",
        resource="users",
        resource_id=user_id,
        now=now,
        actor_id=actor.user_id if actor else user_id,
        metadata={"sessions_ended": ended},
        context=context,
    )
    session.flush()
    return ended


@checked
def purge_expired_sessions(
    session: Session,
    *,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> int:
    """Delete expired sessions and expired or used tokens (a periodic job); sessions deleted."""
    now = resolve_clock(clock).now()
    with system_scope(session):
        ended = affected(session, sa.delete(UserSession).where(UserSession.expires_at <= now))
    affected(
        session,
        sa.delete(UserToken).where(
            sa.or_(UserToken.expires_at <= now, UserToken.used_at.is_not(None))
        ),
    )
    record_audit(
        session,
        action="sessions.purged",
        resource="sessions",
        resource_id=None,
        now=now,
        metadata={"sessions_deleted": ended},
        context=context,
    )
    session.flush()
    return ended


# --- passwords and email ---------------------------------------------------------------


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
) -> User:
    """Set a new password, proving the current one; ends every other session.

    ``current_token`` is the session the request came with, which stays open;
    without it every session ends. A wrong current password is an
    ``AuthenticationError``.
    """
    now = resolve_clock(clock).now()
    hash_with = _hasher(hasher)
    payload = validate(ChangePasswordInput, {"new_password": new_password})
    user = _user(session, user_id)
    if user.status in _DISABLED:
        raise AccountDisabled(f"this account is {user.status.value.lower()}")
    if not hash_with.verify(current_password, user.password):
        record_audit(
            session,
            action="user.password_change_failed",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=user.id,
            context=context,
        )
        session.flush()
        raise AuthenticationError("the current password is wrong")
    user.password = hash_with.hash(payload.new_password)
    user.updated_at = now
    ended = _end_sessions(session, user.id, keep_token=current_token)
    _void_tokens(session, user.id, TokenPurpose.PASSWORD_RESET, now)
    record_audit(
        session,
        action="user.password_changed",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=user.id,
        new={"password": "changed"},
        metadata={"sessions_ended": ended},
        context=context,
    )
    session.flush()
    return user


@checked
def request_email_verification(
    session: Session,
    *,
    user_id: str,
    ttl: timedelta = EMAIL_VERIFICATION_TTL,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> str:
    """A single-use email-verification token for the host to mail; voids older ones."""
    now = resolve_clock(clock).now()
    user = _user(session, user_id)
    if user.email_verified:
        raise InvalidState("the email address is already verified", code="email_already_verified")
    if user.status in _DISABLED:
        raise AccountDisabled(f"this account is {user.status.value.lower()}")
    token = _issue_token(session, user, TokenPurpose.EMAIL_VERIFICATION, ttl, now)
    record_audit(
        session,
        action="user.email_verification_requested",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=user.id,
        context=context,
    )
    session.flush()
    return token


@checked
@_as_system
def verify_email(
    session: Session,
    *,
    token: str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Mark the user's email verified; the token works once and before it expires."""
    now = resolve_clock(clock).now()
    user = _token_user(session, token, TokenPurpose.EMAIL_VERIFICATION, now)
    if user.status in _DISABLED:
        raise InvalidToken("invalid or expired token")
    _consume_token(session, token, TokenPurpose.EMAIL_VERIFICATION, now)
    user.email_verified = True
    user.email_verified_at = now
    user.updated_at = now
    record_audit(
        session,
        action="user.email_verified",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=user.id,
        new={"email_verified": True},
        context=context,
    )
    session.flush()
    return user


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
    record_audit(
        session,
        action="user.password_reset_requested",
        resource="users",
        resource_id=user.id if user is not None else None,
        now=now,
        metadata={"issued": token is not None},
        context=context,
    )
    session.flush()
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
    user = _token_user(session, token, TokenPurpose.PASSWORD_RESET, now)
    if user.status in _DISABLED:
        raise InvalidToken("invalid or expired token")
    _consume_token(session, token, TokenPurpose.PASSWORD_RESET, now)
    _void_tokens(session, user.id, TokenPurpose.PASSWORD_RESET, now)
    user.password = _hasher(hasher).hash(payload.new_password)
    user.updated_at = now
    ended = _end_sessions(session, user.id)
    record_audit(
        session,
        action="user.password_reset",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=user.id,
        new={"password": "changed"},
        metadata={"sessions_ended": ended},
        context=context,
    )
    session.flush()
    return user


# --- profile and deletion ------------------------------------------------------------------


def _self_or_admin(session: Session, actor: Actor, user_id: str) -> None:
    if actor.user_id == user_id:
        me = session.get(User, actor.user_id)
        if me is None or me.status in _DISABLED:
            raise PermissionDenied(
                "an active user is required", details={"actor_id": actor.user_id}
            )
        return
    authorize(session, actor, Action.MANAGE_USERS)


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
    payload = changes if isinstance(changes, ProfileUpdate) else validate(ProfileUpdate, changes)
    _self_or_admin(session, actor, user_id)
    user = _user(session, user_id)
    if user.status is UserStatus.DELETED:
        raise InvalidState("a deleted user's profile cannot change", code="user_deleted")
    values = payload.model_dump(include=payload.model_fields_set, mode="python")
    if payload.billing_address is not None:
        values["billing_address"] = payload.billing_address.model_dump(exclude_none=True)
    _require_keys_for(values)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("timezone", "language") and value is None:
            continue  # NOT NULL columns with defaults: None means "leave alone"
        current = getattr(user, name)
        if current != value:
            old[name], new[name] = current, value
            setattr(user, name, value)
    if new:
        user.updated_at = now
        record_audit(
            session,
            action="user.profile_updated",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=actor.user_id,
            old=old,
            new=new,
            context=context,
        )
        session.flush()
    return user


@checked
def delete_user(
    session: Session,
    *,
    actor: Actor,
    user_id: str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> User:
    """Soft-delete a user (the user themselves, or an ADMIN) and erase their personal data.

    Status becomes DELETED and ``deleted_at`` is set; sessions and outstanding
    tokens end. Name, names, avatar, password, phone, date of birth, tax id and
    billing address are erased, and the email is replaced by
    ``deleted-<id>@deleted.invalid`` (freeing the address). Saved payment
    methods are deleted and stored webhook payloads about the user redacted
    (:func:`paykit.services.erasure.erase_copies`). Orders (with their
    addresses), invoices, refunds and the masked audit trail stay, as
    bookkeeping law requires; see docs/security.md.
    """
    now = resolve_clock(clock).now()
    _self_or_admin(session, actor, user_id)
    user = _user(session, user_id)
    if user.status is UserStatus.DELETED:
        raise InvalidState("the user is already deleted", code="user_deleted")
    old_status = user.status
    # The copies first: they are found through the e-mail and names erased below.
    erased = erase_copies(session, user)
    user.status = UserStatus.DELETED
    user.deleted_at = now
    user.updated_at = now
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.email_verified = False
    for name in ("password", "name", "first_name", "last_name", "avatar", *PERSONAL_FIELDS):
        setattr(user, name, None)
    ended = _end_sessions(session, user.id)
    affected(session, sa.delete(UserToken).where(UserToken.user_id == user.id))
    record_audit(
        session,
        action="user.deleted",
        resource="users",
        resource_id=user.id,
        now=now,
        actor_id=actor.user_id,
        old={"status": old_status.value},
        new={"status": UserStatus.DELETED.value},
        metadata={
            "sessions_ended": ended,
            "payment_methods_deleted": erased.payment_methods_deleted,
            "webhook_events_redacted": erased.webhook_events_redacted,
        },
        context=context,
    )
    session.flush()
    return user


# --- administration -------------------------------------------------------------------


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
            .where(Order.user_id.in_(ids), Order.payment_status.in_(_PAID))
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
    now = resolve_clock(clock).now()
    try:
        new_role = UserRole(str(role).upper())
    except ValueError:
        raise ValidationError(f"unknown role {role!r}") from None
    user = _admin_change(session, actor, user_id)
    old_role = user.role
    if old_role is not new_role:
        user.role = new_role
        user.updated_at = now
        record_audit(
            session,
            action="user.role_changed",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=actor.user_id,
            old={"role": old_role.value},
            new={"role": new_role.value},
            context=context,
        )
        session.flush()
    return user


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

    DELETED is refused here: :func:`delete_user` also erases personal data.
    """
    now = resolve_clock(clock).now()
    try:
        new_status = UserStatus(str(status).upper())
    except ValueError:
        raise ValidationError(f"unknown status {status!r}") from None
    if new_status is UserStatus.DELETED:
        raise ValidationError("use delete_user() to delete a user", code="use_delete_user")
    user = _admin_change(session, actor, user_id)
    old_status = user.status
    if old_status is not new_status:
        user.status = new_status
        user.updated_at = now
        ended = _end_sessions(session, user.id) if new_status is UserStatus.SUSPENDED else 0
        record_audit(
            session,
            action="user.status_changed",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=actor.user_id,
            old={"status": old_status.value},
            new={"status": new_status.value},
            metadata={"sessions_ended": ended},
            context=context,
        )
        session.flush()
    return user
