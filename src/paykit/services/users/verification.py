"""Email verification: a single-use token the host mails, and its redemption."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidState
from paykit.models import User
from paykit.models.users import TokenPurpose
from paykit.services._audit import Audit
from paykit.services.users._common import EMAIL_VERIFICATION_TTL, _as_system, _enabled, _user
from paykit.services.users.tokens import _issue_token, _redeem_token

__all__ = ["request_email_verification", "verify_email"]


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
    _enabled(user)
    token = _issue_token(session, user, TokenPurpose.EMAIL_VERIFICATION, ttl, now)
    Audit(session, now, user.id, context).record(
        "user.email_verification_requested", "users", user.id
    )
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
    user = _redeem_token(session, token, TokenPurpose.EMAIL_VERIFICATION, now)
    user.email_verified = True
    user.email_verified_at = now
    user.updated_at = now
    Audit(session, now, user.id, context).record(
        "user.email_verified", "users", user.id, new={"email_verified": True}
    )
    return user
