"""Login throttling: counted in the database, per e-mail and per IP, with an injected clock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.context import RequestContext
from paykit.errors import AuthenticationError, PaykitError, TooManyAttempts, ValidationError
from paykit.security import PasswordHasher
from paykit.services import users as svc
from paykit.services.throttle import LoginThrottle, purge_login_attempts

FAST = PasswordHasher(rounds=4, allow_weak=True)
T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
PASSWORD = "right password"
HOME = RequestContext(ip_address="203.0.113.7")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _user(session: Session, email: str = "tess@example.com") -> m.User:
    return f.user(session, email=email, password=FAST.hash(PASSWORD))


def _try(
    session: Session,
    clock: FrozenClock,
    email: str,
    password: str = "wrong password",
    context: RequestContext | None = HOME,
    **kw: object,
) -> PaykitError | None:
    try:
        svc.login(
            session,
            email=email,
            password=password,
            hasher=FAST,
            clock=clock,
            context=context,
            **kw,  # type: ignore[arg-type]
        )
    except PaykitError as exc:
        return exc
    return None


def test_five_failures_per_15_minutes_then_429(session: Session, clock: FrozenClock) -> None:
    user = _user(session)
    for _ in range(5):
        assert isinstance(_try(session, clock, user.email), AuthenticationError)
        clock.advance(timedelta(minutes=1))
    refused = _try(session, clock, user.email, PASSWORD)  # even the right password
    assert isinstance(refused, TooManyAttempts)
    assert (refused.code, refused.http_status) == ("too_many_attempts", 429)
    assert refused.details["retry_after"] == 10 * 60  # the window opened at T0
    assert refused.to_dict()["error"]["retry_after"] == 600
    clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert _try(session, clock, user.email, PASSWORD).details["retry_after"] == 1  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=1))
    assert _try(session, clock, user.email, PASSWORD) is None


def test_unknown_addresses_are_throttled_alike(session: Session, clock: FrozenClock) -> None:
    user = _user(session)
    outcomes = {}
    for email in (user.email, "nobody@example.com"):
        errors = [_try(session, clock, email, context=None) for _ in range(6)]
        outcomes[email] = [(type(e).__name__, e.code, e.details) for e in errors if e]
    assert outcomes[user.email] == outcomes["nobody@example.com"]
    assert outcomes[user.email][-1] == (
        "TooManyAttempts",
        "too_many_attempts",
        {"retry_after": 900, "scope": "email"},
    )
    # Typed in another case or with spaces: the same address, the same counter.
    assert isinstance(_try(session, clock, "  NOBODY@example.com ", context=None), TooManyAttempts)


def test_per_ip_across_addresses(session: Session, clock: FrozenClock) -> None:
    user = _user(session)
    for n in range(5):
        assert isinstance(_try(session, clock, f"guess{n}@example.com"), AuthenticationError)
    refused = _try(session, clock, user.email, PASSWORD)
    assert isinstance(refused, TooManyAttempts)
    assert refused.details["scope"] == "ip"
    # Another address may still log in, and the blocked IP did not use up the e-mail's attempts.
    elsewhere = RequestContext(ip_address="198.51.100.1")
    assert _try(session, clock, user.email, PASSWORD, context=elsewhere) is None


def test_a_successful_login_resets_the_email_counter(session: Session, clock: FrozenClock) -> None:
    user = _user(session)
    for _ in range(4):
        _try(session, clock, user.email, context=None)
    assert _try(session, clock, user.email, PASSWORD, context=None) is None
    for _ in range(5):
        assert isinstance(_try(session, clock, user.email, context=None), AuthenticationError)
    assert isinstance(_try(session, clock, user.email, context=None), TooManyAttempts)


def test_the_rule_is_configurable(session: Session, clock: FrozenClock) -> None:
    user = _user(session)
    strict = LoginThrottle(max_attempts=2, window=timedelta(minutes=1))
    for _ in range(2):
        assert isinstance(_try(session, clock, user.email, throttle=strict), AuthenticationError)
    refused = _try(session, clock, user.email, throttle=strict)
    assert isinstance(refused, TooManyAttempts)
    assert refused.details["retry_after"] == 60
    off = [_try(session, clock, "x@example.com", throttle=None) for _ in range(20)]
    assert all(isinstance(e, AuthenticationError) for e in off)
    bad_rules: list[dict[str, object]] = [
        {"max_attempts": 0},
        {"max_attempts": "5"},
        {"max_attempts": 10**12},
        {"window": timedelta(0)},
        {"window": timedelta(days=10**6)},
        {"window": 900},
        {"per_ip": "no"},
    ]
    for bad in bad_rules:
        with pytest.raises(ValidationError):
            LoginThrottle(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        purge_login_attempts(session, throttle="5/15min", clock=clock)  # type: ignore[arg-type]
    refused = _try(session, clock, user.email, PASSWORD, throttle="5/15min")
    assert isinstance(refused, ValidationError)
    with pytest.raises(ValidationError):  # a context with a non-text address is refused
        RequestContext(ip_address=12345)  # type: ignore[arg-type]


def test_counters_hold_no_address_in_plain_text_and_are_purged(
    session: Session, clock: FrozenClock
) -> None:
    user = _user(session)
    _try(session, clock, user.email)
    rows = session.execute(sa.select(m.LoginAttempt.scope, m.LoginAttempt.subject)).all()
    assert sorted(scope for scope, _ in rows) == ["email", "ip"]
    assert not any(user.email in subject or "203.0.113.7" in subject for _, subject in rows)
    clock.advance(timedelta(minutes=14))
    assert purge_login_attempts(session, clock=clock) == 0
    clock.advance(timedelta(minutes=1))
    assert purge_login_attempts(session, clock=clock) == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(m.LoginAttempt)) == 0


def test_a_throttled_login_is_audited_without_the_user(
    session: Session, clock: FrozenClock
) -> None:
    user = _user(session)
    for _ in range(6):
        _try(session, clock, user.email)
    last = session.scalars(
        sa.select(m.AuditLog).order_by(m.AuditLog.created_at, m.AuditLog.id.desc()).limit(1)
    ).one()
    assert (last.action, last.user_id, last.resource_id) == ("user.login_failed", None, None)
    assert last.metadata_ == {"reason": "throttled"}


def test_parallel_attempts_check_at_most_five_passwords(fresh_engine: Engine) -> None:
    """Twelve parallel attempts on one address: the database counts, five get a check."""
    clock = FrozenClock(T0)
    with Session(fresh_engine) as session, session.begin():
        email = _user(session, "race@example.com").email
    checked = []
    lock = threading.Lock()

    class CountingHasher(PasswordHasher):
        def verify(self, password: str, hashed: str | None) -> bool:
            with lock:
                checked.append(password)
            return super().verify(password, hashed)

    hasher = CountingHasher(rounds=4, allow_weak=True)
    start = threading.Barrier(12)

    def attempt(n: int) -> str:
        start.wait()
        with Session(fresh_engine) as session:
            try:
                svc.login(
                    session,
                    email=email,
                    password=f"wrong {n}",
                    hasher=hasher,
                    clock=clock,
                    context=RequestContext(ip_address=f"192.0.2.{n}"),
                )
            except PaykitError as exc:
                session.commit()  # the host keeps failed attempts on record
                return exc.code
            return "ok"

    with ThreadPoolExecutor(12) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    assert codes.count("authentication_failed") == 5
    assert codes.count("too_many_attempts") == 7
    assert len(checked) == 5
    with Session(fresh_engine) as session:
        stored = session.scalar(
            sa.select(m.LoginAttempt.attempts).where(m.LoginAttempt.scope == "email")
        )
    assert stored == 12
