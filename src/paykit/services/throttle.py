"""Login throttling: failed logins counted in the database, per e-mail and per IP.

:func:`paykit.services.users.login` reserves an attempt on each counter
*before* it checks the password, with one atomic upsert per counter
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``). The upsert locks the
counter's row until the host's transaction ends, so parallel attempts on one
address queue behind each other instead of all reading the same count: no
more than ``max_attempts`` passwords are ever checked per window. A successful
login clears the e-mail counter and gives its slot back to the IP counter.

Counters are keyed by the SHA-256 of the normalised address and are kept for
any address, registered or not, so a refusal reveals nothing about which
accounts exist. The IP counter is taken first: an address that is already
blocked cannot use up a victim's e-mail attempts. Like the failed-login audit
row, a reserved attempt is a write: **the host commits after catching
``AuthenticationError`` or ``TooManyAttempts``**, or the attempt is not
counted (docs/security.md).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.errors import TooManyAttempts, ValidationError
from paykit.models.base import new_id
from paykit.models.throttle import LoginAttempt
from paykit.security.rls import system_scope

__all__ = [
    "DEFAULT_LOGIN_THROTTLE",
    "LoginThrottle",
    "purge_login_attempts",
    "release_login_attempt",
    "reserve_login_attempt",
]

_TABLE = cast(sa.Table, LoginAttempt.__table__)
# Bounds that keep the counter inside its INTEGER column and the window's
# start inside datetime's range.
_MAX_ATTEMPTS = 1_000_000
_MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """How many login attempts an address may make per window.

    The defaults are 5 attempts per 15 minutes per e-mail address and per IP
    address (the seed template's rule). ``per_email`` / ``per_ip`` turn either
    counter off; a login without an IP address in its ``RequestContext`` is
    counted per e-mail only.
    """

    max_attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    per_email: bool = True
    per_ip: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValidationError("max_attempts must be an integer", code="invalid_throttle")
        if not 1 <= self.max_attempts <= _MAX_ATTEMPTS:
            raise ValidationError(
                f"max_attempts must be 1 to {_MAX_ATTEMPTS}", code="invalid_throttle"
            )
        if not isinstance(self.window, timedelta) or not (
            timedelta(0) < self.window <= _MAX_WINDOW
        ):
            raise ValidationError(
                "window must be a timedelta of more than 0 and at most 366 days",
                code="invalid_throttle",
            )
        if not isinstance(self.per_email, bool) or not isinstance(self.per_ip, bool):
            raise ValidationError("per_email and per_ip must be booleans", code="invalid_throttle")


#: What :func:`paykit.services.users.login` uses unless told otherwise.
DEFAULT_LOGIN_THROTTLE = LoginThrottle()


def _check(throttle: object) -> None:
    if not isinstance(throttle, LoginThrottle):
        raise ValidationError("throttle must be a LoginThrottle", code="invalid_throttle")


def _subject(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value}".encode("utf-8", "surrogatepass")).hexdigest()


def _counters(
    throttle: LoginThrottle, email: object, ip_address: str | None
) -> list[tuple[str, str]]:
    # Fixed order, IP first: every attempt locks its rows in the same order.
    counters = []
    if throttle.per_ip and isinstance(ip_address, str) and ip_address.strip():
        counters.append(("ip", _subject("ip", ip_address.strip().lower())))
    if throttle.per_email:
        typed = email.strip().lower() if isinstance(email, str) else f"<{type(email).__name__}>"
        counters.append(("email", _subject("email", typed)))
    return counters


def _count_statement(session: Session, throttle: LoginThrottle, now: datetime) -> Any:
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE).values(
        id=sa.bindparam("id"),
        scope=sa.bindparam("scope"),
        subject=sa.bindparam("subject"),
        attempts=1,
        window_started_at=now,
    )
    ended = _TABLE.c.window_started_at <= now - throttle.window
    return statement.on_conflict_do_update(
        index_elements=["scope", "subject"],
        set_={
            # A window that has ended starts again with this attempt.
            "attempts": sa.case((ended, 1), else_=_TABLE.c.attempts + 1),
            "window_started_at": sa.case(
                (ended, sa.literal(now, _TABLE.c.window_started_at.type)),
                else_=_TABLE.c.window_started_at,
            ),
        },
    ).returning(_TABLE.c.attempts, _TABLE.c.window_started_at)


def reserve_login_attempt(
    session: Session,
    *,
    email: object,
    ip_address: str | None,
    throttle: LoginThrottle = DEFAULT_LOGIN_THROTTLE,
    clock: Clock | None = None,
) -> Sequence[tuple[str, str]]:
    """Count one login attempt on each counter; ``TooManyAttempts`` past the limit.

    Returns the counters it touched, for :func:`release_login_attempt` after a
    successful login. The error's ``details`` carry ``retry_after`` (whole
    seconds until the window ends) and the ``scope`` that refused.
    """
    _check(throttle)
    now = resolve_clock(clock).now()
    counters = _counters(throttle, email, ip_address)
    if not counters:
        return counters
    statement = _count_statement(session, throttle, now)
    with system_scope(session):
        for scope, subject in counters:
            attempts, started = (
                session.connection()
                .execute(statement, {"id": new_id(), "scope": scope, "subject": subject})
                .one()
            )
            if attempts > throttle.max_attempts:
                retry_after = max(1, math.ceil((started + throttle.window - now).total_seconds()))
                raise TooManyAttempts(
                    f"too many login attempts; try again in {retry_after} seconds",
                    details={"retry_after": retry_after, "scope": scope},
                )
    return counters


def release_login_attempt(session: Session, counters: Sequence[tuple[str, str]]) -> None:
    """After a successful login: clear the e-mail counter, give the IP its slot back."""
    with system_scope(session):
        for scope, subject in counters:
            row = (_TABLE.c.scope == scope) & (_TABLE.c.subject == subject)
            if scope == "email":
                session.connection().execute(sa.delete(_TABLE).where(row))
            else:
                session.connection().execute(
                    sa.update(_TABLE)
                    .where(row, _TABLE.c.attempts > 0)
                    .values(attempts=_TABLE.c.attempts - 1)
                )


@checked
def purge_login_attempts(
    session: Session,
    *,
    throttle: LoginThrottle = DEFAULT_LOGIN_THROTTLE,
    clock: Clock | None = None,
) -> int:
    """Delete counters whose window has ended (a periodic job); returns how many."""
    _check(throttle)
    cutoff = resolve_clock(clock).now() - throttle.window
    with system_scope(session):
        result = session.connection().execute(
            sa.delete(_TABLE).where(_TABLE.c.window_started_at <= cutoff)
        )
    return int(getattr(result, "rowcount", 0))
