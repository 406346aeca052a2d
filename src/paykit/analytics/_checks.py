"""The checks every analytics entry point makes on its days, before any query."""

from __future__ import annotations

from datetime import UTC, date, datetime

from paykit.clock import Clock, SystemClock
from paykit.errors import ValidationError

__all__ = ["MAX_DAYS", "check_day", "check_range", "today"]

#: The longest range one call covers (ten years): a typo in a year is refused, not run.
MAX_DAYS = 3660


def today(clock: Clock | None) -> date:
    """The current UTC day of ``clock`` (the system clock when ``None``)."""
    now = (clock or SystemClock()).now()
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValidationError(
            "the clock must return a timezone-aware datetime", code="invalid_argument"
        )
    return now.astimezone(UTC).date()


def check_day(value: object, name: str, *, latest: date) -> date:
    """``value`` as a calendar day no later than ``latest``, else ``ValidationError``.

    A ``datetime`` is refused (``invalid_argument``): it is a moment, not a day,
    and its day depends on a time zone the caller did not name.
    """
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError(
            f"{name} must be a datetime.date (a UTC day), not {type(value).__name__}",
            code="invalid_argument",
            details={"parameter": name},
        )
    if value > latest:
        raise ValidationError(
            f"{name} {value.isoformat()} is in the future (today is {latest.isoformat()} UTC)",
            code="day_in_future",
            details={"parameter": name},
        )
    return value


def check_range(start: object, end: object, *, latest: date) -> tuple[date, date]:
    """``[start, end]`` (both included) as checked days: in order, past, ≤ :data:`MAX_DAYS`."""
    first = check_day(start, "start", latest=latest)
    last = check_day(end, "end", latest=latest)
    if first > last:
        raise ValidationError(
            f"start {first.isoformat()} is after end {last.isoformat()}", code="invalid_range"
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError(f"a range of more than {MAX_DAYS} days", code="invalid_range")
    return first, last
