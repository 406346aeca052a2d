"""Users imported with standard bcrypt hashes log in and are upgraded; one password policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import AuthenticationError, ValidationError
from paykit.security import Actor, PasswordHasher
from paykit.security.passwords import hash_rounds, verify_password
from paykit.services import users as svc
from paykit.services.seed import ADMIN_EMAIL, seed

FAST = PasswordHasher(rounds=4, allow_weak=True)
CLOCK = FrozenClock(datetime(2025, 5, 1, tzinfo=UTC))
PAYKIT_PREFIX = "$paykit-bcrypt-sha256$"

# As a bcryptjs / PHP application stored them (see tests/unit/test_passwords.py).
IMPORTED = {
    "$2y$": ("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
    "$2a$": ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    "$2b$": ("correct horse", "$2b$04$KCfNSKgHGpEPAV9c1V4L/.BvmXq6kfB3Hv08D6Vz0n8v3W8UD6GRG"),
}


@pytest.mark.parametrize("scheme", sorted(IMPORTED))
def test_imported_bcrypt_users_log_in_and_are_upgraded(session: Session, scheme: str) -> None:
    password, hashed = IMPORTED[scheme]
    user = f.user(session, password=hashed)
    with pytest.raises(AuthenticationError):
        svc.login(session, email=user.email, password=password + "!", hasher=FAST, clock=CLOCK)
    session.refresh(user)
    assert user.password == hashed  # a failed login changes nothing

    result = svc.login(session, email=user.email, password=password, hasher=FAST, clock=CLOCK)
    assert result.user.id == user.id
    stored = session.scalar(sa.select(m.User.password).where(m.User.id == user.id))
    assert stored is not None
    assert stored.startswith(PAYKIT_PREFIX)
    assert hash_rounds(stored) == FAST.rounds
    assert verify_password(password, stored)
    # And the upgraded hash works for the next login.
    svc.login(session, email=user.email, password=password, hasher=FAST, clock=CLOCK)


BAD = "abc"
GOOD = "eight chars"


def test_one_password_policy_for_registration_change_reset_and_seed(session: Session) -> None:
    with pytest.raises(ValidationError):
        svc.register_user(
            session, {"email": "p@example.com", "password": BAD, "name": "Pat"}, hasher=FAST
        )
    user = svc.register_user(
        session, {"email": "p@example.com", "password": GOOD, "name": "Pat"}, hasher=FAST
    )
    with pytest.raises(ValidationError):
        svc.change_password(
            session, user_id=user.id, current_password=GOOD, new_password=BAD, hasher=FAST
        )
    token = svc.request_password_reset(session, email=user.email)
    assert token is not None
    with pytest.raises(ValidationError):
        svc.reset_password(session, token=token, new_password=BAD, hasher=FAST)
    with pytest.raises(ValidationError) as info:
        seed(session, admin_password=BAD)
    assert info.value.code == "invalid_password"
    assert session.scalar(sa.select(m.User).where(m.User.email == ADMIN_EMAIL)) is None
    # What passes for one passes for all.
    svc.reset_password(session, token=token, new_password=GOOD + "?", hasher=FAST)
    svc.change_password(
        session, user_id=user.id, current_password=GOOD + "?", new_password=GOOD, hasher=FAST
    )
    admin = seed(session, admin_password=GOOD).admin
    assert verify_password(GOOD, admin.password)
    assert Actor.of(admin).role is m.UserRole.ADMIN
