"""Arbitrary strings into registration and login: a result, a validation error or an
authentication error, never anything else (no database error, no crash)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from paykit.clock import FrozenClock
from paykit.errors import AuthenticationError, ValidationError
from paykit.models import User
from paykit.security import Keyring, PasswordHasher, use_keyring
from paykit.services import users as svc

FAST = PasswordHasher(rounds=4, allow_weak=True)
CLOCK = FrozenClock(datetime(2025, 8, 1, tzinfo=UTC))
KNOWN = {"email": "known@example.com", "password": "known-password", "name": "Known"}

# Real strings: any code points (NUL, controls, surrogates too), plus valid-looking
# emails so the success path is exercised as well.
anything = st.text(alphabet=st.characters(codec=None), max_size=80)
emails = st.one_of(anything, st.emails(), st.just(KNOWN["email"]), st.just("KNOWN@Example.com "))
passwords = st.one_of(anything, st.just(KNOWN["password"]), st.text(min_size=8, max_size=40))
fuzz = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _keys() -> Iterator[None]:
    with use_keyring(Keyring.generate()):
        yield


@fuzz
@given(
    email=emails,
    password=passwords,
    name=st.one_of(anything, st.just("Valid Name")),
    phone=st.one_of(st.none(), anything, st.just("+1 555 0100")),
)
def test_registration_never_fails_unexpectedly(
    session: Session, email: str, password: str, name: str, phone: str | None
) -> None:
    savepoint = session.begin_nested()
    try:
        data = {"email": email, "password": password, "name": name}
        if phone is not None:
            data["phone"] = phone
        user = svc.register_user(session, data, hasher=FAST, clock=CLOCK)
        assert isinstance(user, User)
        assert user.email == email.strip().lower()
    except ValidationError:
        pass
    finally:
        savepoint.rollback()


@fuzz
@given(email=emails, password=passwords)
def test_login_never_fails_unexpectedly(session: Session, email: str, password: str) -> None:
    if not hasattr(session, "_known"):
        svc.register_user(session, KNOWN, hasher=FAST, clock=CLOCK)
        session._known = True  # type: ignore[attr-defined]
    savepoint = session.begin_nested()
    try:
        result = svc.login(session, email=email, password=password, hasher=FAST, clock=CLOCK)
        assert password == KNOWN["password"]
        assert result.user.email == KNOWN["email"]
    except AuthenticationError:
        pass
    finally:
        savepoint.rollback()
