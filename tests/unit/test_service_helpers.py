"""The small helpers services share: load-or-NotFound, owner-or-may, listing scope, choices,
inputs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from paykit.errors import NotFound, PermissionDenied, ValidationError
from paykit.models import SupportTicket, TicketPriority, TicketStatus, UserRole
from paykit.schemas.users import ProfileUpdate
from paykit.security import Action
from paykit.services._choices import member
from paykit.services._inputs import parsed, text_field
from paykit.services._rows import found, listing_owner, owner_or_may, where_given


def _user(user_id: str, role: UserRole) -> Any:
    return SimpleNamespace(id=user_id, role=role)


def test_found_returns_the_row_or_says_not_found_in_the_services_words() -> None:
    row = object()
    assert found(row, "ticket", "t1") is row
    with pytest.raises(NotFound) as missing:
        found(None, "ticket", "t1")
    assert missing.value.message == "ticket t1 not found"
    assert missing.value.details == {"ticket_id": "t1"}
    with pytest.raises(NotFound) as hidden:
        found(row, "order item", "i1", visible=lambda _: False, key="id")
    # An invisible row is refused exactly like a missing one.
    assert hidden.value.message == "order item i1 not found"
    assert hidden.value.details == {"id": "i1"}
    assert hidden.value.code == NotFound("x").code


def test_owner_or_may() -> None:
    customer, support = _user("c", UserRole.CUSTOMER), _user("s", UserRole.SUPPORT)
    assert owner_or_may(customer, "c", Action.READ_ANY_ORDER)
    assert not owner_or_may(customer, "other", Action.READ_ANY_ORDER)
    assert owner_or_may(support, "other", Action.READ_ANY_ORDER)


def test_listing_owner_scopes_customers_to_their_own_rows() -> None:
    customer, admin = _user("c", UserRole.CUSTOMER), _user("a", UserRole.ADMIN)
    assert listing_owner(customer, None, Action.READ_ANY_TICKET, "tickets") == "c"
    assert listing_owner(customer, "c", Action.READ_ANY_TICKET, "tickets") == "c"
    assert listing_owner(admin, None, Action.READ_ANY_TICKET, "tickets") is None
    assert listing_owner(admin, "c", Action.READ_ANY_TICKET, "tickets") == "c"
    with pytest.raises(PermissionDenied) as refused:
        listing_owner(customer, "other", Action.READ_ANY_TICKET, "tickets")
    assert refused.value.message == "a customer may list only their own tickets"
    assert refused.value.details == {"action": Action.READ_ANY_TICKET.value, "actor_id": "c"}


def test_where_given_skips_the_filters_left_out() -> None:
    query = where_given(
        sa.select(SupportTicket),
        (SupportTicket.customer_id, "c"),
        (SupportTicket.assignee_id, None),
        (SupportTicket.status, TicketStatus.OPEN),
    )
    sql = str(query)
    assert "customer_id = " in sql
    assert "status = " in sql
    assert "assignee_id" not in sql.split("WHERE", 1)[1]


def test_member_parses_any_case_and_keeps_each_callers_code() -> None:
    assert member(TicketPriority, "high", "priority") is TicketPriority.HIGH
    assert member(TicketPriority, TicketPriority.LOW, "priority") is TicketPriority.LOW
    with pytest.raises(ValidationError) as plain:
        member(TicketPriority, "urgent!", "priority")
    assert plain.value.message == "unknown priority 'urgent!'"
    assert plain.value.code == ValidationError("x").code
    with pytest.raises(ValidationError) as coded:
        member(TicketStatus, "nope", "ticket status", code="invalid_status")
    assert coded.value.code == "invalid_status"


def test_parsed_takes_the_model_as_is_and_validates_a_mapping() -> None:
    model = ProfileUpdate(name="Ada")
    assert parsed(ProfileUpdate, model) is model
    assert parsed(ProfileUpdate, {"name": "Ada"}) == model
    with pytest.raises(ValidationError):
        parsed(ProfileUpdate, {"no_such_field": 1})


def test_text_field_strips_and_bounds_free_text() -> None:
    assert text_field("  a note ", "notes", 10) == "a note"
    for bad in ("   ", "x" * 11, "a\x00b"):
        with pytest.raises(ValidationError) as refused:
            text_field(bad, "notes", 10)
        assert refused.value.code == "invalid_text"
        assert refused.value.details == {"field": "notes"}
