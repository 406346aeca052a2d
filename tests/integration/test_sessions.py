"""Login sessions: equal-cost failures, hashed 256-bit tokens, expiry, revocation, purge."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.context import RequestContext
from paykit.errors import AccountDisabled, AuthenticationError, InvalidToken
from paykit.security import Actor, PasswordHasher, hash_token
from paykit.security.passwords import hash_rounds
from paykit.services import users as svc

FAST = PasswordHasher(rounds=4, allow_weak=True)
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CONTEXT = RequestContext(ip_address="203.0.113.7", user_agent="pytest/1.0")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def user(session: Session, clock: FrozenClock) -> m.User:
    return svc.register_user(
        session,
        {"email": "grace@example.com", "password": "hopper-1906", "name": "Grace"},
        hasher=FAST,
        clock=clock,
    )


def login(session: Session, clock: FrozenClock, **kw: object) -> svc.LoginResult:
    args: dict[str, object] = {"email": "grace@example.com", "password": "hopper-1906"}
    args.update(kw)
    return svc.login(session, hasher=FAST, clock=clock, context=CONTEXT, **args)  # type: ignore[arg-type]


def test_login_opens_a_session_with_a_hashed_256_bit_token(
    session: Session, clock: FrozenClock, user: m.User
) -> None:
    result = login(session, clock, email="GRACE@example.com")
    prefix, body = result.token.split("_", 1)
    assert prefix == "pks"
    assert len(base64.urlsafe_b64decode(body + "=")) == 32  # 256 bits
    row = session.scalars(sa.select(m.Session)).one()
    assert row.token == hash_token(result.token) != result.token
    assert (row.ip_address, row.user_agent) == (CONTEXT.ip_address, CONTEXT.user_agent)
    assert row.expires_at == START + svc.DEFAULT_SESSION_TTL
    assert user.last_login_at == START
    assert "token" not in repr(result)


def test_tokens_differ_every_time(session: Session, clock: FrozenClock, user: m.User) -> None:
    assert len({login(session, clock).token for _ in range(5)}) == 5


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("grace@example.com", "wrong-password"),
        ("nobody@example.com", "hopper-1906"),
        ("not an email", "hopper-1906"),
        ("grace@example.com", ""),
    ],
)
def test_every_failure_is_the_same_error_after_one_bcrypt_check(
    session: Session,
    clock: FrozenClock,
    user: m.User,
    email: str,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    with pytest.raises(AuthenticationError) as info:
        svc.login(session, email=email, password=password, hasher=FAST, clock=clock)
    assert type(info.value) is AuthenticationError
    assert info.value.code == "authentication_failed"
    assert str(info.value) == "invalid email or password"
    # Exactly one real bcrypt run at the same cost, whether or not the user
    # exists: an unknown email is checked against a dummy hash.
    assert len(checked) == 1
    assert checked[0].startswith(b"$2b$04$")
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Session)) == 0


def test_unknown_email_verifies_against_a_dummy_hash_of_the_same_cost(
    session: Session, clock: FrozenClock, user: m.User
) -> None:
    # The dummy hash has the same cost as real ones, so both paths take one
    # cost-4 bcrypt run here (cost 12 in production).
    from paykit.security.passwords import dummy_hash

    for rounds in (4, 12, 5):
        assert hash_rounds(dummy_hash(rounds)) == rounds
    assert user.password is not None
    assert hash_rounds(user.password) == FAST.rounds


@pytest.mark.parametrize("status", [m.UserStatus.SUSPENDED, m.UserStatus.DELETED])
def test_suspended_and_deleted_users_are_refused(
    session: Session, clock: FrozenClock, user: m.User, status: m.UserStatus
) -> None:
    user.status = status
    with pytest.raises(AccountDisabled) as info:
        login(session, clock)
    assert info.value.http_status == 403
    with pytest.raises(AuthenticationError) as wrong:
        login(session, clock, password="wrong-password")
    assert type(wrong.value) is AuthenticationError  # no status leak without the password


def test_inactive_users_may_log_in(session: Session, clock: FrozenClock, user: m.User) -> None:
    user.status = m.UserStatus.INACTIVE
    assert login(session, clock).user is user


def test_weaker_hash_is_upgraded_on_login(
    session: Session, clock: FrozenClock, user: m.User
) -> None:
    stronger = PasswordHasher(rounds=5, allow_weak=True)
    svc.login(session, email=user.email, password="hopper-1906", hasher=stronger, clock=clock)
    assert user.password is not None
    assert hash_rounds(user.password) == 5


def test_validate_session(session: Session, clock: FrozenClock, user: m.User) -> None:
    result = login(session, clock)
    live = svc.validate_session(session, result.token, clock=clock)
    assert live.user is user
    for bad in ("", "pks_nope", result.token + "x", hash_token(result.token)):
        with pytest.raises(InvalidToken):
            svc.validate_session(session, bad, clock=clock)
    clock.advance(svc.DEFAULT_SESSION_TTL)
    with pytest.raises(InvalidToken):
        svc.validate_session(session, result.token, clock=clock)


def test_session_ttl_is_configurable(session: Session, clock: FrozenClock, user: m.User) -> None:
    result = login(session, clock, session_ttl=timedelta(minutes=30))
    clock.advance(minutes=29)
    svc.validate_session(session, result.token, clock=clock)
    clock.advance(minutes=1)
    with pytest.raises(InvalidToken):
        svc.validate_session(session, result.token, clock=clock)


def test_revoke_and_revoke_all(session: Session, clock: FrozenClock, user: m.User) -> None:
    one, two, three = (login(session, clock) for _ in range(3))
    assert svc.revoke_session(session, one.token, clock=clock) is True
    assert svc.revoke_session(session, one.token, clock=clock) is False
    with pytest.raises(InvalidToken):
        svc.validate_session(session, one.token, clock=clock)
    assert svc.revoke_all_sessions(session, user_id=user.id, except_token=two.token) == 1
    svc.validate_session(session, two.token, clock=clock)
    with pytest.raises(InvalidToken):
        svc.validate_session(session, three.token, clock=clock)
    assert svc.revoke_all_sessions(session, user_id=user.id) == 1


def test_only_admins_end_other_peoples_sessions(
    session: Session, clock: FrozenClock, user: m.User
) -> None:
    login(session, clock)
    from paykit.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        svc.revoke_all_sessions(session, user_id=user.id, actor=Actor.of(f.user(session)))
    boss = Actor.of(f.user(session, role=m.UserRole.ADMIN))
    assert svc.revoke_all_sessions(session, user_id=user.id, actor=boss) == 1


def test_purge_expired_sessions(session: Session, clock: FrozenClock, user: m.User) -> None:
    short = login(session, clock, session_ttl=timedelta(hours=1))
    long = login(session, clock, session_ttl=timedelta(days=1))
    svc.request_password_reset(session, email=user.email, clock=clock)
    clock.advance(hours=2)
    assert svc.purge_expired_sessions(session, clock=clock) == 1
    remaining = session.scalars(sa.select(m.Session.token)).all()
    assert remaining == [hash_token(long.token)]
    assert hash_token(short.token) not in remaining
    assert session.scalar(sa.select(sa.func.count()).select_from(m.users.UserToken)) == 0
