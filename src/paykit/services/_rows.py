"""A row the caller named, or ``NotFound``; a new row inserted, or ``Conflict``.

Every service says a missing (or, for this reader, invisible) row the same
way: ``NotFound("<noun> <id> not found", details={"<noun>_id": id})``. A row
the actor may not see is refused with the same error as one that does not
exist, so ids of other customers' rows are not confirmed. An insert that
breaks a unique constraint (a taken slug, code or key) is the caller's
``Conflict``, raised from a savepoint so the transaction stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import NotFound, PaykitError, PermissionDenied
from paykit.models import User, UserRole
from paykit.security.policy import Action, allows

__all__ = [
    "found",
    "insert_or",
    "listing_owner",
    "listing_scope",
    "load",
    "not_found",
    "owner_or_may",
    "owner_or_role_may",
    "where_given",
]

_T = TypeVar("_T")
_S = TypeVar("_S")


def found(
    row: _T | None,
    noun: str,
    row_id: str,
    *,
    visible: Callable[[_T], bool] | None = None,
    key: str | None = None,
) -> _T:
    """``row`` if it exists and ``visible(row)`` holds, else ``NotFound`` naming ``noun``.

    The details name the id under ``key`` (default ``"<noun>_id"``).
    """
    if row is None or (visible is not None and not visible(row)):
        raise not_found(noun, row_id, key=key)
    return row


def not_found(noun: str, row_id: str, *, key: str | None = None) -> NotFound:
    """The services' ``NotFound`` for ``noun`` ``row_id`` (details key ``"<noun>_id"``)."""
    return NotFound(f"{noun} {row_id} not found", details={key or f"{noun}_id": row_id})


def load(
    session: Session,
    model: type[_T],
    row_id: str,
    noun: str,
    *,
    visible: Callable[[_T], bool] | None = None,
    key: str | None = None,
    **options: Any,
) -> _T:
    """``session.get(model, row_id, **options)``, through :func:`found`."""
    return found(session.get(model, row_id, **options), noun, row_id, visible=visible, key=key)


def owner_or_may(user: User, owner_id: str | None, action: Action) -> bool:
    """Whether ``user`` owns the row (``owner_id``) or its stored role allows ``action``."""
    return owner_or_role_may(user.id, user.role, owner_id, action)


def owner_or_role_may(reader_id: str, role: UserRole, owner_id: str | None, action: Action) -> bool:
    """:func:`owner_or_may` for a reader given by id and stored role (read by the same
    statement as the row, as ``get_order`` does)."""
    return owner_id == reader_id or allows(role, action)


def insert_or(session: Session, row: object, error: PaykitError) -> None:
    """Insert ``row`` in a savepoint; a unique constraint it breaks raises ``error``.

    The savepoint keeps the caller's transaction usable after the refusal (a
    parallel writer that took the key first is refused the same way).
    """
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError as exc:
        raise error from exc


def listing_owner(user: User, customer_id: str | None, action: Action, rows: str) -> str | None:
    """Whose ``rows`` a listing may show ``user``: anyone's (or ``customer_id``'s) when the
    stored role allows ``action``, else the user's own; naming another customer is then
    ``PermissionDenied``."""
    return listing_scope(user.id, user.role, customer_id, action, rows)


def listing_scope(
    reader_id: str, role: UserRole, customer_id: str | None, action: Action, rows: str
) -> str | None:
    """:func:`listing_owner` for a reader given by id and role (a role not yet checked
    against the stored user, as the one-statement order listing does)."""
    if allows(role, action):
        return customer_id
    if customer_id is not None and customer_id != reader_id:
        raise PermissionDenied(
            f"a customer may list only their own {rows}",
            details={"action": action.value, "actor_id": reader_id},
        )
    return reader_id


def where_given(query: sa.Select[_S], *filters: tuple[Any, object]) -> sa.Select[_S]:
    """``query`` narrowed by ``column == value`` for each ``(column, value)`` whose value
    is not ``None`` (a listing's optional filters)."""
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    return query
