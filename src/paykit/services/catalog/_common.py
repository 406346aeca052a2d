"""What the catalog modules share: the reader's visibility, checks, keyset cursors."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session

from paykit.errors import InvalidAmount
from paykit.models import User, UserStatus
from paykit.money import to_decimal
from paykit.security.policy import Action, Actor, allows
from paykit.services.reads import _bad_cursor, _fingerprint, pack_cursor, unpack_cursor

__all__ = [
    "MAX_SEARCH_LENGTH",
    "Key",
    "decode_cursor",
    "encode_cursor",
    "keyset_after",
    "keyset_page",
    "price_bound",
    "staff_user",
]

MAX_SEARCH_LENGTH = 200
_CENT = Decimal("0.01")
_PRICE_LIMIT = Decimal(10) ** 8  # Numeric(10, 2)


def staff_user(session: Session, actor: Actor | None, action: Action) -> User | None:
    """The actor's user if it is active and its stored role allows ``action``, else None.

    A stale ``Actor`` (demoted, suspended, unknown) gets the public view.
    """
    if actor is None:
        return None
    user = session.get(User, actor.user_id)
    if user is None or user.status is not UserStatus.ACTIVE or user.deleted_at is not None:
        return None
    return user if allows(user.role, action) else None


def price_bound(value: object, field: str) -> Decimal | None:
    """A price filter bound: an exact, non-negative amount that fits the column."""
    if value is None:
        return None
    amount = to_decimal(value, field=field)
    if amount < 0 or amount >= _PRICE_LIMIT or amount != amount.quantize(_CENT):
        raise InvalidAmount(
            f"{field} must be an amount from 0 to 99999999.99 with at most 2 decimals",
            details={"field": field},
        )
    return amount


class Key:
    """One column of a keyset sort: the expression and how its value travels in a cursor."""

    def __init__(self, expr: sa.ColumnElement[Any] | QueryableAttribute[Any], kind: str) -> None:
        self.expr: sa.ColumnElement[Any] = (
            expr if isinstance(expr, sa.ColumnElement) else expr.expression
        )
        self.kind = kind  # bool | time | money | text | float | int

    def dump(self, value: Any) -> Any:
        if self.kind == "time":
            return value.isoformat()
        if self.kind == "money":
            return str(value)
        if self.kind == "float":
            return float(value)
        return value

    def load(self, raw: Any) -> Any:
        kind = self.kind
        if kind == "bool" and isinstance(raw, bool):
            return raw
        if kind == "text" and isinstance(raw, str):
            return raw
        if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if kind == "float" and isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if kind == "time" and isinstance(raw, str):
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                raise ValueError("naive time in cursor")
            return moment
        if kind == "money" and isinstance(raw, str):
            return price_bound(raw, "cursor")
        raise ValueError(f"bad {kind} in cursor")


@functools.lru_cache(maxsize=256)
def _cached_fingerprint(items: tuple[tuple[str, type, Any], ...]) -> str:
    return _fingerprint({name: value for name, _, value in items})


def _filter_print(flt: dict[str, Any]) -> str:
    """``_fingerprint(flt)``, remembered for a filter of hashable values (a tuple dumps
    as the list it stands for), so a walk through pages hashes its filter once. The
    key holds each value's type: ``True`` and ``1`` are equal, their JSON is not."""
    try:
        return _cached_fingerprint(tuple((k, v.__class__, v) for k, v in flt.items()))
    except TypeError:  # a list among the values
        return _fingerprint(flt)


def encode_cursor(flt: dict[str, Any], keys: Sequence[Key], values: Sequence[Any]) -> str:
    """An opaque cursor: the position after a row, bound to the filter's fingerprint."""
    body = {"f": _filter_print(flt), "k": [k.dump(v) for k, v in zip(keys, values, strict=True)]}
    return pack_cursor(body)


def decode_cursor(cursor: str, flt: dict[str, Any], keys: Sequence[Key]) -> list[Any]:
    """The position a cursor names; ``invalid_cursor`` unless made for this very filter."""
    if len(cursor) > 1024:
        raise _bad_cursor()
    try:
        body = unpack_cursor(cursor)
        if not isinstance(body, dict) or body.get("f") != _filter_print(flt):
            raise _bad_cursor()
        values = body["k"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise _bad_cursor()
        return [k.load(v) for k, v in zip(keys, values, strict=True)]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError, InvalidAmount):
        raise _bad_cursor() from None


def keyset_after(
    keys: Sequence[Key], values: Sequence[Any], *, descending: bool
) -> sa.ColumnElement[bool]:
    """Rows after the cursor's position, for a sort whose keys all go one way.

    One row-value comparison, which PostgreSQL matches against a B-tree
    index with the same column order (its directions all the same).
    """
    left = sa.tuple_(*(k.expr for k in keys))
    right = sa.tuple_(
        *(sa.literal(v, type_=k.expr.type) for k, v in zip(keys, values, strict=True))
    )
    return left < right if descending else left > right


def keyset_page(
    session: Session,
    query: sa.Select[Any],
    keys: Sequence[Key],
    flt: dict[str, Any],
    *,
    cursor: str | None,
    limit: int,
    descending: bool,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` in the order of ``keys``, after ``cursor``; the rows and the
    next page's cursor (``None`` on the last page).

    ``query`` selects the row first and then each key's expression, in the
    order of ``keys``: the last row's key values make the next cursor.
    """
    if cursor is not None:
        query = query.where(
            keyset_after(keys, decode_cursor(cursor, flt, keys), descending=descending)
        )
    order = [k.expr.desc() if descending else k.expr.asc() for k in keys]
    rows = session.execute(query.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(flt, keys, list(rows[-1][1:])) if more else None
    return [row[0] for row in rows], next_cursor
