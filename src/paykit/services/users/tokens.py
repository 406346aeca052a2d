"""Single-use tokens (email verification, password reset): issue, look up, consume."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import InvalidToken
from paykit.models import User
from paykit.models.users import TokenPurpose, UserToken
from paykit.security.tokens import hash_token, new_token
from paykit.services._sql import affected
from paykit.services.users._common import _DISABLED

__all__: list[str] = []


_TOKEN_PREFIX = {TokenPurpose.EMAIL_VERIFICATION: "pkv", TokenPurpose.PASSWORD_RESET: "pkr"}


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


def _usable(token: str, purpose: TokenPurpose, now: datetime) -> sa.ColumnElement[bool]:
    """The row of ``token`` for ``purpose``, if it is unused and unexpired at ``now``."""
    return sa.and_(
        UserToken.token_hash == hash_token(token),
        UserToken.purpose == purpose.value,
        UserToken.used_at.is_(None),
        UserToken.expires_at > now,
    )


def _token_user(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> User:
    """The user of an unused, unexpired token (not yet consumed)."""
    row = session.scalar(sa.select(UserToken).where(_usable(token, purpose, now)))
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or user is None:
        raise InvalidToken("invalid or expired token")
    return user


def _consume_token(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> None:
    # The conditional update is the single-use guarantee: of two parallel
    # calls with one token, exactly one changes a row.
    used = affected(
        session, sa.update(UserToken).where(_usable(token, purpose, now)).values(used_at=now)
    )
    if used != 1:
        raise InvalidToken("invalid or expired token")


def _redeem_token(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> User:
    """The user of a usable token, which this call uses up; a suspended or deleted
    user's token is as invalid as an unknown one."""
    user = _token_user(session, token, purpose, now)
    if user.status in _DISABLED:
        raise InvalidToken("invalid or expired token")
    _consume_token(session, token, purpose, now)
    return user
