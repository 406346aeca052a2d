"""Time, injected.

Every paykit service takes a ``clock=`` argument and never reads the system
time itself, so tests and replays control "now" exactly.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from paykit._arguments import checked
from paykit.errors import ValidationError

__all__ = ["Clock", "FrozenClock", "SystemClock", "ensure_utc", "resolve_clock"]


@runtime_checkable
class Clock(Protocol):
    """Something that tells the time: ``now()`` returns an aware UTC datetime."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is refused, never guessed."""
    if not isinstance(value, datetime):
        raise ValidationError(
            f"expected an aware datetime, not {type(value).__name__}", code="invalid_argument"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            "naive datetime given where an aware UTC datetime is required",
            code="invalid_argument",
        )
    return value.astimezone(UTC)


class SystemClock:
    """The real clock: ``datetime.now(UTC)``."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that stands still until told to move; safe to share across threads."""

    @checked
    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = ensure_utc(start) if start is not None else datetime(2025, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The frozen instant."""
        with self._lock:
            return self._now

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (aware; converted to UTC)."""
        with self._lock:
            self._now = ensure_utc(value)

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new now."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValidationError(
                "FrozenClock.advance() only moves forward; use set()", code="invalid_argument"
            )
        with self._lock:
            self._now = self._now + step
            return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()})"


def resolve_clock(clock: Clock | None) -> Clock:
    """The clock to use: the one given, else the system clock."""
    return clock if clock is not None else SystemClock()
