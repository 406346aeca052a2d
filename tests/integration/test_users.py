"""Users: registration, email verification, password reset and change, profile, deletion, admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import (
    AccountDisabled,
    AuthenticationError,
    ConfigurationError,
    EmailTaken,
    InvalidState,
    InvalidToken,
    PermissionDenied,
    TooManyAttempts,
    ValidationError,
)
from paykit.security import Actor, Keyring, PasswordHasher, use_keyring
from paykit.security.passwords import hash_rounds
from paykit.services import users as svc
from paykit.services.throttle import LoginThrottle

FAST = PasswordHasher(rounds=4, allow_weak=True)
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def keyring() -> Iterator[Keyring]:
    ring = Keyring.generate()
    with use_keyring(ring):
        yield ring


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def register(session: Session, clock: FrozenClock, **kw: object) -> m.User:
    data = {"email": "Ada@Example.com", "password": "correct horse", "name": "Ada"}
    data.update(kw)
    return svc.register_user(session, data, hasher=FAST, clock=clock)


def admin(session: Session) -> Actor:
    return Actor.of(f.user(session, role=m.UserRole.ADMIN))


# --- registration -------------------------------------------------------------------


def test_register_normalizes_email_and_hashes_password(
    session: Session, clock: FrozenClock
) -> None:
    user = register(session, clock, first_name="Ada", last_name="Lovelace")
    assert user.email == "ada@example.com"
    assert user.password is not None
    assert user.password != "correct horse"
    assert FAST.verify("correct horse", user.password)
    assert (user.role, user.status, user.email_verified) == (
        m.UserRole.CUSTOMER,
        m.UserStatus.ACTIVE,
        False,
    )
    assert user.created_at == START


def test_duplicate_email_in_any_case_is_email_taken(session: Session, clock: FrozenClock) -> None:
    register(session, clock)
    with pytest.raises(EmailTaken) as info:
        register(session, clock, email="ADA@example.COM")
    assert info.value.code == "email_taken"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("email", "ünï@example.com"),
        ("password", "pw-7chr"),
        ("name", "A"),
        ("name", "A\x00B"),
        ("phone", "call me"),
    ],
)
def test_registration_validation(
    session: Session, clock: FrozenClock, field: str, value: str
) -> None:
    with pytest.raises(ValidationError) as info:
        register(session, clock, **{field: value})
    assert info.value.errors[0]["loc"] == [field]
    assert value not in str(info.value.to_dict())  # input values are not echoed


def test_password_is_kept_exactly_as_typed(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock, password="  spaced  ")
    assert FAST.verify("  spaced  ", user.password)
    assert not FAST.verify("spaced", user.password)


def test_default_hasher_uses_cost_12(session: Session, clock: FrozenClock) -> None:
    # The one test that pays for a real cost-12 hash (~0.25 s).
    user = svc.register_user(
        session, {"email": "slow@example.com", "password": "12345678", "name": "Slo"}, clock=clock
    )
    assert user.password is not None
    assert hash_rounds(user.password) == 12


def test_weak_cost_needs_explicit_opt_in() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        PasswordHasher(rounds=4)


def test_phone_without_a_key_is_a_configuration_error(session: Session, clock: FrozenClock) -> None:
    with use_keyring(None), pytest.raises(ConfigurationError) as info:
        register(session, clock, phone="+1 555 0100")
    assert info.value.code == "encryption_not_configured"
    assert session.scalar(sa.select(sa.func.count()).select_from(m.User)) == 0


# --- email verification ----------------------------------------------------------------


def test_email_verification_is_single_use(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    token = svc.request_email_verification(session, user_id=user.id, clock=clock)
    clock.advance(minutes=5)
    assert svc.verify_email(session, token=token, clock=clock) is user
    assert user.email_verified
    assert user.email_verified_at == START + timedelta(minutes=5)
    with pytest.raises(InvalidState):
        svc.request_email_verification(session, user_id=user.id, clock=clock)
    user.email_verified = False
    with pytest.raises(InvalidToken):
        svc.verify_email(session, token=token, clock=clock)


def test_email_verification_token_expires(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    token = svc.request_email_verification(session, user_id=user.id, clock=clock)
    clock.advance(svc.EMAIL_VERIFICATION_TTL)
    with pytest.raises(InvalidToken):
        svc.verify_email(session, token=token, clock=clock)
    assert not user.email_verified


def test_new_verification_token_voids_the_old_one(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    first = svc.request_email_verification(session, user_id=user.id, clock=clock)
    second = svc.request_email_verification(session, user_id=user.id, clock=clock)
    with pytest.raises(InvalidToken):
        svc.verify_email(session, token=first, clock=clock)
    svc.verify_email(session, token=second, clock=clock)
    assert user.email_verified


def test_tokens_are_stored_hashed(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    token = svc.request_email_verification(session, user_id=user.id, clock=clock)
    stored = session.scalars(sa.select(m.users.UserToken.token_hash)).all()
    assert token not in stored
    assert len(stored) == 1
    assert len(stored[0]) == 64


# --- password reset and change ------------------------------------------------------------


def test_password_reset_flow(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    svc.login(session, email=user.email, password="correct horse", hasher=FAST, clock=clock)
    token = svc.request_password_reset(session, email="ADA@example.com", clock=clock)
    assert token is not None
    with pytest.raises(ValidationError):
        svc.reset_password(session, token=token, new_password="short", hasher=FAST, clock=clock)
    svc.reset_password(
        session, token=token, new_password="new password 1", hasher=FAST, clock=clock
    )
    assert FAST.verify("new password 1", user.password)
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Session)) == 0
    with pytest.raises(InvalidToken):  # single use
        svc.reset_password(
            session, token=token, new_password="another one", hasher=FAST, clock=clock
        )
    with pytest.raises(AuthenticationError):
        svc.login(session, email=user.email, password="correct horse", hasher=FAST, clock=clock)


def test_password_reset_token_expires(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    token = svc.request_password_reset(session, email=user.email, clock=clock)
    assert token is not None
    clock.advance(svc.PASSWORD_RESET_TTL + timedelta(seconds=1))
    with pytest.raises(InvalidToken):
        svc.reset_password(
            session, token=token, new_password="new password", hasher=FAST, clock=clock
        )


def test_password_reset_for_unknown_email_gives_no_token(
    session: Session, clock: FrozenClock
) -> None:
    assert svc.request_password_reset(session, email="nobody@example.com", clock=clock) is None
    assert svc.request_password_reset(session, email="garbage", clock=clock) is None


def test_change_password_is_throttled_like_a_login(session: Session, clock: FrozenClock) -> None:
    """A stolen session cannot guess the current password through change_password."""
    user = register(session, clock)
    attempt = {
        "user_id": user.id,
        "new_password": "brand new pw",
        "hasher": FAST,
        "clock": clock,
        "throttle": LoginThrottle(max_attempts=3),
    }
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            svc.change_password(session, current_password="a wrong guess", **attempt)
    with pytest.raises(TooManyAttempts) as refused:
        svc.change_password(session, current_password="correct horse", **attempt)
    assert refused.value.details["scope"] == "email"
    assert FAST.verify("correct horse", user.password)  # the password did not change
    with pytest.raises(TooManyAttempts):  # and login shares the same counter
        svc.login(
            session,
            email=user.email,
            password="correct horse",
            hasher=FAST,
            clock=clock,
            throttle=LoginThrottle(max_attempts=3),
        )
    clock.advance(timedelta(minutes=16))  # the window ends
    svc.change_password(session, current_password="correct horse", **attempt)
    assert FAST.verify("brand new pw", user.password)


def test_a_successful_change_gives_the_attempt_back(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    throttle = LoginThrottle(max_attempts=2)
    for number in range(4):  # more changes than attempts: each success clears the counter
        svc.change_password(
            session,
            user_id=user.id,
            current_password="correct horse" if number == 0 else f"new password {number - 1}",
            new_password=f"new password {number}",
            hasher=FAST,
            clock=clock,
            throttle=throttle,
        )
    with pytest.raises(ValidationError, match="throttle"):
        svc.change_password(
            session,
            user_id=user.id,
            current_password="new password 3",
            new_password="another one",
            hasher=FAST,
            clock=clock,
            throttle="5 per minute",  # type: ignore[arg-type]
        )


def test_change_password_needs_current_and_ends_other_sessions(
    session: Session, clock: FrozenClock
) -> None:
    user = register(session, clock)
    mine = svc.login(session, email=user.email, password="correct horse", hasher=FAST, clock=clock)
    other = svc.login(session, email=user.email, password="correct horse", hasher=FAST, clock=clock)
    with pytest.raises(AuthenticationError):
        svc.change_password(
            session,
            user_id=user.id,
            current_password="wrong password",
            new_password="brand new pw",
            hasher=FAST,
            clock=clock,
        )
    svc.change_password(
        session,
        user_id=user.id,
        current_password="correct horse",
        new_password="brand new pw",
        current_token=mine.token,
        hasher=FAST,
        clock=clock,
    )
    assert svc.validate_session(session, mine.token, clock=clock).user_id == user.id
    with pytest.raises(InvalidToken):
        svc.validate_session(session, other.token, clock=clock)
    assert FAST.verify("brand new pw", user.password)


# --- profile ------------------------------------------------------------------------


def test_profile_update_changes_only_given_fields(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock, first_name="Ada")
    born = datetime(1815, 12, 10, tzinfo=UTC)
    svc.update_profile(
        session,
        actor=Actor.of(user),
        user_id=user.id,
        changes={
            "phone": "+44 20 7946 0000",
            "date_of_birth": born,
            "tax_id": "GB123456789",
            "billing_address": {"line1": "1 St James's Sq", "city": "London", "country": "gb"},
            "language": "en-GB",
        },
        clock=clock,
    )
    session.expire_all()
    again = session.get(m.User, user.id)
    assert again is not None
    assert again.first_name == "Ada"  # untouched
    assert (again.phone, again.date_of_birth, again.tax_id) == (
        "+44 20 7946 0000",
        born,
        "GB123456789",
    )
    assert again.billing_address == {"line1": "1 St James's Sq", "city": "London", "country": "GB"}
    assert again.language == "en-GB"
    svc.update_profile(session, actor=Actor.of(again), user_id=again.id, changes={"phone": None})
    assert again.phone is None


def test_only_self_or_admin_may_update_a_profile(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    other = f.user(session)
    with pytest.raises(PermissionDenied):
        svc.update_profile(
            session, actor=Actor.of(other), user_id=user.id, changes={"name": "Evil"}
        )
    svc.update_profile(session, actor=admin(session), user_id=user.id, changes={"name": "Ok Name"})
    assert user.name == "Ok Name"


def test_profile_rejects_unknown_fields_and_email(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    with pytest.raises(ValidationError):
        svc.update_profile(
            session, actor=Actor.of(user), user_id=user.id, changes={"email": "x@y.io"}
        )
    with pytest.raises(ValidationError):
        svc.update_profile(
            session, actor=Actor.of(user), user_id=user.id, changes={"role": "ADMIN"}
        )


# --- deletion ----------------------------------------------------------------------


def test_soft_delete_erases_personal_data_and_ends_sessions(
    session: Session, clock: FrozenClock
) -> None:
    user = register(session, clock, phone="+1 555 0100")
    f.order(session, user)
    result = svc.login(
        session, email=user.email, password="correct horse", hasher=FAST, clock=clock
    )
    svc.request_password_reset(session, email=user.email, clock=clock)
    svc.delete_user(session, actor=Actor.of(user), user_id=user.id, clock=clock)
    assert user.status is m.UserStatus.DELETED
    assert user.deleted_at == START
    assert user.email == f"deleted-{user.id}@deleted.invalid"
    assert (user.password, user.name, user.phone, user.first_name) == (None, None, None, None)
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Session)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(m.users.UserToken)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Order)) == 1  # kept
    with pytest.raises(InvalidToken):
        svc.validate_session(session, result.token, clock=clock)
    with pytest.raises(AuthenticationError):
        svc.login(
            session, email="ada@example.com", password="correct horse", hasher=FAST, clock=clock
        )
    with pytest.raises(PermissionDenied):  # a deleted user acts no more
        svc.delete_user(session, actor=Actor.of(user), user_id=user.id, clock=clock)
    with pytest.raises(InvalidState):
        svc.delete_user(session, actor=admin(session), user_id=user.id, clock=clock)
    # The address is free again.
    assert register(session, clock).id != user.id


def test_customers_cannot_delete_others(session: Session, clock: FrozenClock) -> None:
    user = register(session, clock)
    with pytest.raises(PermissionDenied):
        svc.delete_user(session, actor=Actor.of(f.user(session)), user_id=user.id, clock=clock)
    svc.delete_user(session, actor=admin(session), user_id=user.id, clock=clock)
    assert user.status is m.UserStatus.DELETED


# --- administration -------------------------------------------------------------------


def test_list_users_with_order_count_and_total_spent(session: Session, clock: FrozenClock) -> None:
    boss = admin(session)
    buyer = register(session, clock)
    f.order(session, buyer, total_amount=Decimal("30.00"), payment_status=m.PaymentStatus.SUCCEEDED)
    f.order(
        session,
        buyer,
        total_amount=Decimal("20.00"),
        refunded_amount=Decimal("5.00"),
        payment_status=m.PaymentStatus.SUCCEEDED,
    )
    f.order(session, buyer, total_amount=Decimal("99.00"))  # unpaid: counted, not spent
    f.order(
        session,
        buyer,
        currency="EUR",
        total_amount=Decimal("7.50"),
        payment_status=m.PaymentStatus.SUCCEEDED,
    )
    rows = {r.user.id: r for r in svc.list_users(session, actor=boss)}
    assert rows[buyer.id].order_count == 4
    assert rows[buyer.id].total_spent == {"USD": Decimal("45.00"), "EUR": Decimal("7.50")}
    assert rows[boss.user_id].order_count == 0
    assert rows[boss.user_id].total_spent == {}
    only_admins = svc.list_users(session, actor=boss, role=m.UserRole.ADMIN)
    assert [r.user.id for r in only_admins] == [boss.user_id]


@pytest.mark.parametrize("role", [m.UserRole.CUSTOMER, m.UserRole.SUPPORT])
def test_list_users_is_admin_only(session: Session, role: m.UserRole) -> None:
    with pytest.raises(PermissionDenied):
        svc.list_users(session, actor=Actor.of(f.user(session, role=role)))


def test_change_role_and_status(session: Session, clock: FrozenClock) -> None:
    boss = admin(session)
    user = register(session, clock)
    result = svc.login(
        session, email=user.email, password="correct horse", hasher=FAST, clock=clock
    )
    svc.set_user_role(session, actor=boss, user_id=user.id, role="support", clock=clock)
    assert user.role is m.UserRole.SUPPORT
    svc.set_user_status(session, actor=boss, user_id=user.id, status=m.UserStatus.SUSPENDED)
    with pytest.raises(InvalidToken):
        svc.validate_session(session, result.token, clock=clock)
    with pytest.raises(AccountDisabled):
        svc.login(session, email=user.email, password="correct horse", hasher=FAST, clock=clock)
    with pytest.raises(ValidationError):
        svc.set_user_status(session, actor=boss, user_id=user.id, status="DELETED")
    with pytest.raises(ValidationError):
        svc.set_user_role(session, actor=boss, user_id=user.id, role="ROOT")


def test_admins_cannot_change_themselves_and_others_cannot_change_anyone(
    session: Session, clock: FrozenClock
) -> None:
    boss = admin(session)
    user = register(session, clock)
    with pytest.raises(PermissionDenied):
        svc.set_user_role(session, actor=boss, user_id=boss.user_id, role="CUSTOMER")
    with pytest.raises(PermissionDenied):
        svc.set_user_role(session, actor=Actor.of(user), user_id=user.id, role="ADMIN")
    support = Actor.of(f.user(session, role=m.UserRole.SUPPORT))
    with pytest.raises(PermissionDenied):
        svc.set_user_status(session, actor=support, user_id=user.id, status="SUSPENDED")


def test_a_stale_admin_actor_grants_nothing(session: Session, clock: FrozenClock) -> None:
    boss = admin(session)
    other_admin = admin(session)
    svc.set_user_role(session, actor=other_admin, user_id=boss.user_id, role="CUSTOMER")
    # `boss` still says ADMIN, but the database's role decides.
    with pytest.raises(PermissionDenied):
        svc.list_users(session, actor=boss)
