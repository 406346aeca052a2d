"""Login sessions: validate, revoke one or all, purge the expired."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidToken
from paykit.models import Session as UserSession
from paykit.models.users import UserToken
from paykit.security.policy import Action, Actor, authorize
from paykit.security.rls import system_scope
from paykit.security.tokens import hash_token
from paykit.services._audit import Audit
from paykit.services._sql import affected
from paykit.services.users._common import _DISABLED, _end_sessions, _user

__all__ = [
    "purge_expired_sessions",
    "revoke_all_sessions",
    "revoke_session",
    "validate_session",
]


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
    Audit(session, now, row.user_id, context).record("session.revoked", "sessions", row.id)
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
    Audit(session, now, actor.user_id if actor else user_id, context).record(
        "session.revoked_all", "users", user_id, metadata={"sessions_ended": ended}
    )
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
    Audit(session, now, None, context).record(
        "sessions.purged", "sessions", None, metadata={"sessions_deleted": ended}
    )
    return ended
