"""The declarative base, id generation, timestamps and the constraint naming convention."""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column

from paykit.errors import ValidationError
from paykit.models.types import UTCDateTime

__all__ = ["NAMING_CONVENTION", "Base", "CreatedAtMixin", "TimestampMixin", "new_id", "utcnow"]

#: Every constraint and index paykit creates gets a deterministic name, so
#: migrations can address it on every database. The seed's own named CHECKs
#: (``check_positive_total``, ...) and indexes (``idx_orders_...``) keep the
#: seed's names.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_counter_lock = threading.Lock()
_counter = secrets.randbelow(36**4)


def _b36(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, rem = divmod(number, 36)
        out.append(_BASE36[rem])
    return "".join(reversed(out))


def new_id() -> str:
    """A collision-resistant, roughly time-ordered, cuid-style id (25 characters).

    ``c`` + milliseconds (8, base 36) + a per-process counter (4) + a process
    fingerprint (4) + 8 random base-36 characters from ``secrets``. Ids from one
    process sort by creation time, which keeps B-tree inserts local.
    """
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) % (36**4)
        count = _counter
    millis = int(time.time() * 1000)
    fingerprint = (os.getpid() * 7919 + threading.get_ident()) % (36**4)
    return (
        "c"
        + _b36(millis, 8)
        + _b36(count, 4)
        + _b36(fingerprint, 4)
        + _b36(secrets.randbits(42), 8)
    )


def utcnow() -> datetime:
    """Default for timestamp columns when a row is written outside a paykit service.

    paykit's services set ``created_at``/``updated_at`` from their injected
    clock; this fallback only serves hosts that write models directly.
    """
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of every paykit model; ``Base.metadata`` is paykit's schema."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _enum_coercer(enum_class: type[Enum], field: str) -> Any:
    def coerce(target: object, value: Any, oldvalue: Any, initiator: object) -> Any:
        if value is None or isinstance(value, enum_class):
            return value
        try:
            return enum_class(value)
        except ValueError:
            raise ValidationError(
                f"{value!r} is not a {enum_class.__name__} value",
                details={"field": field, "allowed": [m.value for m in enum_class]},
            ) from None

    return coerce


@sa.event.listens_for(Base, "mapper_configured", propagate=True)
def _coerce_enum_columns(mapper: Mapper[Any], class_: type[Any]) -> None:
    # SQLAlchemy accepts "ADMIN" for an enum column and keeps the string on the
    # object until it is reloaded, so ``user.role is UserRole.ADMIN`` would be
    # False in the session that set it. Every enum column stores the member.
    for attr in mapper.column_attrs:
        column_type = attr.columns[0].type
        if isinstance(column_type, sa.Enum) and column_type.enum_class is not None:
            field = f"{getattr(class_, '__tablename__', class_.__name__)}.{attr.key}"
            coerce = _enum_coercer(column_type.enum_class, field)
            sa.event.listen(getattr(class_, attr.key), "set", coerce, retval=True)


class CreatedAtMixin:
    """``created_at``: set once, when the row is inserted."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=sa.func.now()
    )


class TimestampMixin(CreatedAtMixin):
    """``created_at`` plus ``updated_at``, kept current on every UPDATE (seed's ``@updatedAt``).

    ``onupdate`` fires for ORM flushes and for Core ``update()`` statements
    alike, unless the statement sets ``updated_at`` itself (as services do,
    from their clock).
    """

    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=sa.func.now(),
    )


def id_column() -> Mapped[str]:
    """A ``TEXT`` primary key defaulting to :func:`new_id` (the seed's ``@default(cuid())``)."""
    return mapped_column(sa.Text(), primary_key=True, default=new_id)
