"""list_discounts: an admin pages through the discount codes, newest first.

Every code appears once across the pages, in (created_at, id) order from the
newest; ``active`` filters; a cursor works only with the filter it was made
for; the answers show the value as a percentage or an amount in the code's
currency and the products a code is limited to. Who may list is the
authorization sweep's (test_authz_sweep: ADMIN only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ValidationError
from paykit.security import Actor
from paykit.services import admin


@pytest.fixture
def boss(session: Session) -> Actor:
    return Actor.of(f.user(session, role=m.UserRole.ADMIN))


def test_pages_cover_every_code_once_newest_first(session: Session, boss: Actor) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    mug = f.product(session)
    made = []
    for n in range(7):
        data: dict[str, object] = {
            "code": f"CODE{n}",
            "name": f"Code {n}",
            "type": "PERCENTAGE",
            "value": "12.5",
            "active": n % 3 != 0,
        }
        if n == 4:
            data.update(type="FIXED_AMOUNT", value="5", currency="EUR", product_ids=[mug.id])
        made.append(admin.create_discount(session, actor=boss, data=data, clock=clock).code)
        clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    while True:
        page = admin.list_discounts(session, actor=boss, limit=3, cursor=cursor)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [d.code for d in seen] == list(reversed(made))
    by_code = {d.code: d for d in seen}
    assert (by_code["CODE1"].value, by_code["CODE1"].currency, by_code["CODE1"].product_ids) == (
        "12.5",
        "USD",
        [],
    )
    assert (by_code["CODE4"].value, by_code["CODE4"].currency, by_code["CODE4"].product_ids) == (
        "5.00",
        "EUR",
        [mug.id],
    )
    active = admin.list_discounts(session, actor=boss, active=True, limit=100).items
    retired = admin.list_discounts(session, actor=boss, active=False, limit=100).items
    assert {d.code for d in active} == {f"CODE{n}" for n in range(7) if n % 3 != 0}
    assert {d.code for d in retired} == {"CODE0", "CODE3", "CODE6"}
    first = admin.list_discounts(session, actor=boss, active=True, limit=1)
    assert first.next_cursor is not None
    with pytest.raises(ValidationError) as refused:
        admin.list_discounts(session, actor=boss, active=False, cursor=first.next_cursor)
    assert refused.value.code == "invalid_cursor"
    with pytest.raises(ValidationError) as too_many:
        admin.list_discounts(session, actor=boss, limit=101)
    assert too_many.value.code == "invalid_limit"


def test_no_codes_is_an_empty_last_page(session: Session, boss: Actor) -> None:
    page = admin.list_discounts(session, actor=boss)
    assert (page.items, page.next_cursor) == ([], None)
