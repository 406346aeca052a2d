from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from paykit.clock import Clock, FrozenClock, SystemClock, ensure_utc, resolve_clock


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_frozen_clock_set_and_advance() -> None:
    clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2025, 1, 1, tzinfo=UTC)
    assert clock.advance(days=1, hours=2) == datetime(2025, 1, 2, 2, tzinfo=UTC)
    clock.advance(timedelta(seconds=30))
    assert clock.now() == datetime(2025, 1, 2, 2, 0, 30, tzinfo=UTC)
    clock.set(datetime(2030, 5, 5, 12, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2030, 5, 5, 10, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_frozen_clock_refuses_naive_and_backwards() -> None:
    with pytest.raises(ValueError, match="naive"):
        FrozenClock(datetime(2025, 1, 1))
    clock = FrozenClock()
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds=-1)


def test_frozen_clock_is_thread_safe() -> None:
    clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    threads = [
        threading.Thread(target=lambda: [clock.advance(seconds=1) for _ in range(500)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now() == datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=2000)


def test_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FrozenClock(), Clock)
    frozen = FrozenClock()
    assert resolve_clock(frozen) is frozen
    assert isinstance(resolve_clock(None), SystemClock)


def test_ensure_utc() -> None:
    berlin = datetime(2025, 6, 1, 16, tzinfo=timezone(timedelta(hours=2)))
    assert ensure_utc(berlin) == datetime(2025, 6, 1, 14, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2025, 6, 1))
