"""Column types that behave the same on PostgreSQL and SQLite.

* :class:`ExactDecimal` is ``NUMERIC(p, s)`` on PostgreSQL. SQLite has no exact
  decimal type (its NUMERIC affinity turns 0.1 into a binary float), so there
  the value is stored as an INTEGER count of ``10**-s`` units: 19.99 in a
  ``(10, 2)`` column is stored as 1999. Integer storage keeps sums, comparisons
  and conditional updates (``refunded_amount + :x <= total_amount``) exact in
  SQL as well as in Python.
* :class:`UTCDateTime` is ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL and an ISO
  string in UTC on SQLite; it refuses naive datetimes and always returns aware
  UTC ones.
* :data:`JSONDocument` is JSONB on PostgreSQL and JSON text on SQLite;
  :data:`StringArray` is ``TEXT[]`` on PostgreSQL and a JSON list on SQLite.
* :class:`EncryptedText`, :class:`EncryptedJSON` and :class:`EncryptedDateTime`
  are ``TEXT`` holding AES-GCM ciphertext (``paykit._encryption``, public as
  ``paykit.security.encryption``):
  personal data at rest. They cannot be searched or compared in SQL.

These types are used by the shipped migrations, so their storage format is
part of paykit's compatibility promise: change it only with a migration.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from paykit._encryption import decrypt_value, encrypt_value

__all__ = [
    "EncryptedDateTime",
    "EncryptedJSON",
    "EncryptedText",
    "ExactDecimal",
    "JSONDocument",
    "StringArray",
    "UTCDateTime",
]

T = TypeVar("T")


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact ``Decimal`` column with a fixed precision and scale on every database.

    Binding a float, a NaN, a value with more decimals than ``scale`` or more
    integer digits than ``precision - scale`` raises ``ValueError``: paykit
    never rounds silently on the way into the database.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))

    def _check(self, value: Any) -> Decimal:
        if isinstance(value, (bool, float)):
            raise ValueError(f"money must be Decimal or int, not {type(value).__name__}")
        try:
            dec = Decimal(value) if not isinstance(value, Decimal) else value
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"not a decimal value: {value!r}") from exc
        if not dec.is_finite():
            raise ValueError(f"not a finite decimal: {value!r}")
        quantized = dec.quantize(self._quantum)
        if quantized != dec:
            raise ValueError(f"{value!r} has more than {self.scale} decimal places")
        if abs(quantized) >= self._limit:
            raise ValueError(f"{value!r} does not fit NUMERIC({self.precision}, {self.scale})")
        return quantized

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        dec = self._check(value)
        if dialect.name == "sqlite":
            return int(dec.scaleb(self.scale))
        return dec

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            # Aggregates such as SUM come back as int; AVG as float (refused
            # upstream: paykit never averages money in SQL on SQLite).
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)

    def sqlite_units(self, value: Decimal) -> int:
        """The integer that stores ``value`` on SQLite (for hand-written SQL)."""
        return int(self._check(value).scaleb(self.scale))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database; naive values are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: paykit stores timezone-aware UTC datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite stores text; a fixed-width UTC form sorts chronologically.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # server defaults on SQLite (CURRENT_TIMESTAMP) may arrive as text
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime: a naive one is taken as UTC already.

    Also for times a statement returns as text (PostgreSQL's JSON of a
    ``timestamptz`` carries the session's offset), after ``fromisoformat``.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


#: JSON on SQLite, JSONB on PostgreSQL.
JSONDocument: TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: A list of strings: native ``TEXT[]`` on PostgreSQL, a JSON list on SQLite.
StringArray: TypeEngine[Any] = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")


class _Encrypted(TypeDecorator[T]):
    """``TEXT`` holding ``pkenc:v1:<key id>:<ciphertext>``; plaintext only in Python.

    ``purpose`` names the column (``"users.phone"``) and is bound into every
    ciphertext as associated data. Keys come from the keyring in force
    (``paykit.security.configure_encryption`` / ``use_keyring``); a non-NULL
    value with no keyring raises ``ConfigurationError`` (wrapped by SQLAlchemy
    in a ``StatementError`` when it happens during a flush).
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, purpose: str = "") -> None:
        super().__init__()
        self.purpose = purpose

    def _encode(self, value: Any) -> str:
        raise NotImplementedError

    def _decode(self, text: str) -> T:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not self.purpose:
            raise ValueError("an encrypted column needs a purpose such as 'users.phone'")
        return encrypt_value(self._encode(value), purpose=self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        if value is None:
            return None
        return self._decode(decrypt_value(value, purpose=self.purpose))


class EncryptedText(_Encrypted[str]):
    """An encrypted string column."""

    cache_ok = True

    def _encode(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a str, got {type(value).__name__}")
        return value

    def _decode(self, text: str) -> str:
        return text


class EncryptedJSON(_Encrypted[Any]):
    """An encrypted JSON document (dict or list); keys are sorted before encryption."""

    cache_ok = True

    def _encode(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _decode(self, text: str) -> Any:
        return json.loads(text)


class EncryptedDateTime(_Encrypted[datetime]):
    """An encrypted, timezone-aware UTC datetime (ISO 8601 inside the ciphertext)."""

    cache_ok = True

    def _encode(self, value: Any) -> str:
        if not isinstance(value, datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: paykit stores timezone-aware UTC datetimes only")
        return value.astimezone(UTC).isoformat()

    def _decode(self, text: str) -> datetime:
        return datetime.fromisoformat(text).astimezone(UTC)
