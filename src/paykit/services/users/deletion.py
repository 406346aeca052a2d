"""Deleting a user: a soft delete that erases the personal data (docs/security.md)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidState
from paykit.models import User, UserStatus
from paykit.models.users import UserToken
from paykit.security.policy import Actor
from paykit.services._audit import Audit
from paykit.services._sql import affected
from paykit.services.erasure import erase_copies
from paykit.services.users._common import PERSONAL_FIELDS, _end_sessions, _self_or_admin, _user

__all__ = ["delete_user"]


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
    Audit(session, now, actor.user_id, context).record(
        "user.deleted",
        "users",
        user.id,
        old={"status": old_status.value},
        new={"status": UserStatus.DELETED.value},
        metadata={
            "sessions_ended": ended,
            "payment_methods_deleted": erased.payment_methods_deleted,
            "webhook_events_redacted": erased.webhook_events_redacted,
        },
    )
    return user
