"""Key rotation never reverts a value written after it read the row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory, require_postgres

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.security import Actor, Keyring, PasswordHasher, new_key, rotation, use_keyring
from paykit.security.encryption import key_id_of
from paykit.services import users as svc

FAST = PasswordHasher(rounds=4, allow_weak=True)
CLOCK = FrozenClock(datetime(2025, 6, 1, tzinfo=UTC))
OLD_PHONE = "+1 555 0100"
NEW_PHONE = "+1 555 0199"


@pytest.fixture
def ring() -> Iterator[Keyring]:
    keyring = Keyring.generate("k1")
    with use_keyring(keyring):
        yield keyring


def _user(session: Session, email: str) -> m.User:
    user = svc.register_user(
        session,
        {"email": email, "password": "rotation!", "name": "Rita", "phone": OLD_PHONE},
        hasher=FAST,
        clock=CLOCK,
    )
    session.flush()
    return user


def _phone(session: Session, user_id: str) -> tuple[str, str | None]:
    session.expire_all()
    raw = session.execute(sa.text("SELECT phone FROM users WHERE id = :id"), {"id": user_id})
    user = session.get(m.User, user_id)
    assert user is not None
    return key_id_of(str(raw.scalar_one())), user.phone


def test_an_update_between_read_and_write_is_kept(
    session: Session, ring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user(session, "rita@example.com")
    other = _user(session, "otto@example.com")
    rotated = ring.with_key("k2", new_key())
    real_decrypt = rotation.decrypt_value
    interleaved: list[str] = []

    def decrypt_then_someone_edits(value: str, **kw: Any) -> Any:
        # Between the rotation's read and its write, the user edits their profile.
        plain = real_decrypt(value, **kw)
        if not interleaved:
            interleaved.append(value)
            svc.update_profile(
                session,
                actor=Actor(user.id, m.UserRole.CUSTOMER),
                user_id=user.id,
                changes={"phone": NEW_PHONE},
                clock=CLOCK,
            )
            session.flush()
        return plain

    monkeypatch.setattr(rotation, "decrypt_value", decrypt_then_someone_edits)
    with use_keyring(rotated):
        result = rotation.reencrypt_personal_data(session)
        assert interleaved
        assert _phone(session, user.id) == ("k2", NEW_PHONE)  # the edit won
        assert _phone(session, other.id) == ("k2", OLD_PHONE)  # others rotated
        assert (result.rows_updated, result.remaining) == (1, 0)


@pytest.fixture
def pg_fresh(_factories: dict[str, DatabaseFactory]) -> Engine:
    """A PostgreSQL database of this test's own: rotation reads every user row."""
    require_postgres()
    return _factories["postgresql"].migrated()


def test_a_parallel_transaction_is_not_reverted(
    pg_fresh: Engine, ring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, two real connections: the edit commits while rotation holds its read."""
    pg_engine = pg_fresh
    with Session(pg_engine) as setup:
        user = _user(setup, f"pat-{id(setup)}@example.com")
        setup.commit()
        user_id = user.id
    rotated = ring.with_key("k2", new_key())
    real_decrypt = rotation.decrypt_value
    done = threading.Event()

    def edit_in_another_transaction() -> None:
        with use_keyring(rotated), Session(pg_engine) as other:
            svc.update_profile(
                other,
                actor=Actor(user_id, m.UserRole.CUSTOMER),
                user_id=user_id,
                changes={"phone": NEW_PHONE},
                clock=CLOCK,
            )
            other.commit()
        done.set()

    def decrypt_while_edited(value: str, **kw: Any) -> Any:
        if not done.is_set():
            worker = threading.Thread(target=edit_in_another_transaction)
            worker.start()
            worker.join(timeout=30)
        return real_decrypt(value, **kw)

    monkeypatch.setattr(rotation, "decrypt_value", decrypt_while_edited)
    with use_keyring(rotated), Session(pg_engine) as session:
        result = rotation.reencrypt_personal_data(session)
        session.commit()
        assert done.is_set()
        assert _phone(session, user_id) == ("k2", NEW_PHONE)
        assert (result.rows_updated, result.remaining) == (0, 0)
