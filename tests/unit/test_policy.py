from __future__ import annotations

import pytest

from paykit.errors import PermissionDenied, ValidationError
from paykit.models import UserRole
from paykit.security import POLICY, Action, Actor, allows, require
from paykit.security.policy import acting_user_id

ADMIN, SUPPORT, CUSTOMER = UserRole.ADMIN, UserRole.SUPPORT, UserRole.CUSTOMER

# The issue's rules, written out independently of the table they test.
EXPECTED = {
    Action.ISSUE_REFUND: {SUPPORT, ADMIN},
    Action.MANAGE_PRODUCTS: {ADMIN},
    Action.MANAGE_PRICES: {ADMIN},
    Action.MANAGE_DISCOUNTS: {ADMIN},
    Action.LIST_USERS: {ADMIN},
    Action.MANAGE_USERS: {ADMIN},
    Action.READ_ANY_ORDER: {SUPPORT, ADMIN},
    Action.CANCEL_ANY_ORDER: {SUPPORT, ADMIN},
    Action.MANAGE_ANY_SUBSCRIPTION: {SUPPORT, ADMIN},
    Action.READ_INTERNAL_NOTES: {SUPPORT, ADMIN},
    Action.WRITE_INTERNAL_NOTES: {SUPPORT, ADMIN},
    Action.READ_ANY_TICKET: {SUPPORT, ADMIN},
    Action.WRITE_ANY_TICKET: {SUPPORT, ADMIN},
    Action.READ_INTERNAL_MESSAGES: {SUPPORT, ADMIN},
    Action.WRITE_INTERNAL_MESSAGES: {SUPPORT, ADMIN},
    Action.MODERATE_REVIEWS: {SUPPORT, ADMIN},
    Action.MANAGE_CONFIG: {ADMIN},
    Action.MANAGE_ANY_BILLING: {SUPPORT, ADMIN},
    Action.VOID_INVOICE: {ADMIN},
}


def test_table_covers_every_action_exactly() -> None:
    assert set(POLICY) == set(Action)
    assert {action: set(roles) for action, roles in POLICY.items()} == EXPECTED


def test_customers_are_in_no_row() -> None:
    assert not any(CUSTOMER in roles for roles in POLICY.values())


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(UserRole))
def test_require_follows_the_table(action: Action, role: UserRole) -> None:
    actor = Actor("u1", role)
    if role in EXPECTED[action]:
        require(actor, action)
        assert allows(role, action)
    else:
        with pytest.raises(PermissionDenied) as info:
            require(actor, action)
        assert info.value.details["action"] == action.value


def test_anonymous_is_refused() -> None:
    with pytest.raises(PermissionDenied):
        require(None, Action.ISSUE_REFUND)


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        POLICY[Action.ISSUE_REFUND] = frozenset({CUSTOMER})  # type: ignore[index]


def test_acting_user_id_takes_an_actor_or_an_id_that_agree() -> None:
    assert acting_user_id(None, None) is None
    assert acting_user_id(None, "u1") == "u1"
    assert acting_user_id(Actor("u1", CUSTOMER), "u1") == "u1"
    with pytest.raises(ValidationError) as caught:
        acting_user_id(Actor("u1", CUSTOMER), "u2")
    assert caught.value.code == "actor_mismatch"
    for actor, actor_id in (("u1", None), (None, 7)):
        with pytest.raises(ValidationError):
            acting_user_id(actor, actor_id)  # type: ignore[arg-type]
