"""Personal data at rest: ciphertext in the database, key rotation, the 0004 migration, a scan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ConfigurationError, DecryptionError
from paykit.security import (
    ENCRYPTED_COLUMNS,
    Actor,
    Keyring,
    PasswordHasher,
    decrypt_value,
    new_key,
    reencrypt_personal_data,
    use_keyring,
)
from paykit.security.encryption import CIPHERTEXT_PREFIX, key_id_of
from paykit.services import users as svc

FAST = PasswordHasher(rounds=4, allow_weak=True)
CLOCK = FrozenClock(datetime(2025, 6, 1, tzinfo=UTC))
BORN = datetime(1990, 7, 14, tzinfo=UTC)
ADDRESS = {"line1": "221B Baker Street", "city": "London", "country": "GB"}
PII = {
    "phone": "+44 20 7946 0958",
    "tax_id": "GB999999973",
    "date_of_birth": BORN,
    "billing_address": ADDRESS,
}


@pytest.fixture
def ring() -> Iterator[Keyring]:
    keyring = Keyring.generate("k1")
    with use_keyring(keyring):
        yield keyring


def make_user(session: Session, email: str = "sherlock@example.com") -> m.User:
    user = svc.register_user(
        session,
        {"email": email, "password": "elementary!", "name": "Sherlock"},
        hasher=FAST,
        clock=CLOCK,
    )
    svc.update_profile(session, actor=Actor.of(user), user_id=user.id, changes=PII, clock=CLOCK)
    return user


def raw(session: Session, user_id: str) -> dict[str, str | None]:
    row = session.execute(
        sa.text("SELECT phone, tax_id, date_of_birth, billing_address FROM users WHERE id = :id"),
        {"id": user_id},
    ).one()
    return dict(row._mapping)


def test_personal_data_is_ciphertext_in_the_database(session: Session, ring: Keyring) -> None:
    user = make_user(session)
    stored = raw(session, user.id)
    for column, value in stored.items():
        assert isinstance(value, str), column
        assert value.startswith(f"{CIPHERTEXT_PREFIX}k1:"), column
    assert "7946" not in str(stored)
    assert "Baker" not in str(stored)
    assert "1990" not in str(stored)
    assert decrypt_value(str(stored["phone"]), purpose="users.phone") == PII["phone"]
    session.expire_all()
    again = session.get(m.User, user.id)
    assert again is not None
    assert (again.phone, again.tax_id, again.date_of_birth, again.billing_address) == (
        PII["phone"],
        PII["tax_id"],
        BORN,
        ADDRESS,
    )
    # Email stays plaintext: it is the login key.
    assert (
        session.scalar(sa.select(m.User.id).where(m.User.email == "sherlock@example.com"))
        == user.id
    )


def test_same_value_encrypts_differently_each_time(session: Session, ring: Keyring) -> None:
    a, b = make_user(session, "a@example.com"), make_user(session, "b@example.com")
    assert raw(session, a.id)["phone"] != raw(session, b.id)["phone"]


def test_ciphertext_moved_to_another_column_does_not_decrypt(
    session: Session, ring: Keyring
) -> None:
    user = make_user(session)
    session.execute(sa.text("UPDATE users SET tax_id = phone WHERE id = :id"), {"id": user.id})
    session.expire_all()
    with pytest.raises(DecryptionError):
        session.get(m.User, user.id)


def test_reading_without_a_key_is_a_configuration_error(session: Session, ring: Keyring) -> None:
    user = make_user(session)
    session.expire_all()
    with use_keyring(None), pytest.raises(ConfigurationError):
        session.get(m.User, user.id)


def test_key_rotation(session: Session, ring: Keyring) -> None:
    users = [make_user(session, f"u{i}@example.com") for i in range(3)]
    rotated = ring.with_key("k2", new_key())
    with use_keyring(rotated):
        first = reencrypt_personal_data(session, batch_size=2)
        assert (first.rows_updated, first.values_reencrypted, first.remaining) == (2, 8, 1)
        second = reencrypt_personal_data(session, batch_size=2)
        assert (second.rows_updated, second.remaining) == (1, 0)
        assert reencrypt_personal_data(session).rows_updated == 0
    for user in users:
        assert {key_id_of(str(v)) for v in raw(session, user.id).values()} == {"k2"}
    # The old key can now go.
    only_new = Keyring({"k2": rotated.keys["k2"]}, "k2")
    session.expire_all()
    with use_keyring(only_new):
        loaded = session.get(m.User, users[0].id)
        assert loaded is not None
        assert loaded.billing_address == ADDRESS


def test_rotation_needs_the_old_key(session: Session, ring: Keyring) -> None:
    make_user(session)
    with use_keyring(Keyring.generate("k9")), pytest.raises(DecryptionError):
        reencrypt_personal_data(session)


def test_migration_0004_encrypts_existing_plaintext(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    paykit.migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, phone, tax_id, date_of_birth, billing_address,"
                " role, status, timezone, language, email_verified, created_at, updated_at)"
                " VALUES ('u1', 'old@example.com', '+1 555 0199', 'TAX-1', :born, :addr,"
                " 'CUSTOMER', 'ACTIVE', 'UTC', 'en', false, :now, :now)"
            ).bindparams(
                sa.bindparam("born", BORN, type_=m.UTCDateTime()),
                sa.bindparam("addr", ADDRESS, type_=m.JSONDocument),
                sa.bindparam("now", CLOCK.now(), type_=m.UTCDateTime()),
            )
        )
    with use_keyring(None), pytest.raises(ConfigurationError, match="configure_encryption"):
        paykit.migrate(engine)
    assert "0002" in (paykit.current_revision(engine) or "")
    keyring = Keyring.generate("m1")
    with use_keyring(keyring):
        paykit.migrate(engine)
        with Session(engine) as session:
            stored = raw(session, "u1")
            assert all(str(v).startswith(f"{CIPHERTEXT_PREFIX}m1:") for v in stored.values())
            user = session.get(m.User, "u1")
            assert user is not None
            assert (user.phone, user.tax_id, user.date_of_birth, user.billing_address) == (
                "+1 555 0199",
                "TAX-1",
                BORN,
                ADDRESS,
            )
        paykit.downgrade(engine, "0002")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT phone, tax_id FROM users WHERE id = 'u1'")).one()
    assert tuple(row) == ("+1 555 0199", "TAX-1")


def test_database_scan_finds_no_secret_in_plain_text(fresh_engine: Engine, ring: Keyring) -> None:
    """Run every flow against a committed database, then read every text cell."""
    secrets: list[str] = []
    with Session(fresh_engine) as session:
        for i in range(2):
            password = f"plain-password-{i}"
            secrets.append(password)
            user = make_user(session, f"scan{i}@example.com")
            svc.change_password(
                session,
                user_id=user.id,
                current_password="elementary!",
                new_password=password,
                hasher=FAST,
                clock=CLOCK,
            )
            secrets.append(
                svc.login(
                    session, email=user.email, password=password, hasher=FAST, clock=CLOCK
                ).token
            )
            secrets.append(svc.request_email_verification(session, user_id=user.id, clock=CLOCK))
            reset = svc.request_password_reset(session, email=user.email, clock=CLOCK)
            assert reset is not None
            secrets.append(reset)
        session.commit()

    plain_pii = [PII["phone"], PII["tax_id"], "Baker Street", "1990-07-14"]
    inspector = sa.inspect(fresh_engine)
    with fresh_engine.connect() as conn:
        for table in inspector.get_table_names():
            cells = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            text = "\n".join(str(cell) for row in cells for cell in row)
            for secret in [*secrets, "elementary!"]:
                assert secret not in text, (table, "a token or password is stored in plain text")
            for value in plain_pii:
                assert value not in text, (table, "personal data is stored in plain text")
        for table, columns in ENCRYPTED_COLUMNS.items():
            for column in columns:
                values = conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars().all()
                for v in values:
                    assert v is None or str(v).startswith(CIPHERTEXT_PREFIX), (table, column)
                assert any(v is not None for v in values)
