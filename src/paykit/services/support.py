"""Support tickets and the staff's view of orders, read and written "as an actor".

A CUSTOMER reaches only their own tickets and orders (anything else is
``NotFound``, so ids of other customers' rows are not confirmed) and never sees
internal ticket messages or ``Order.internal_notes``. SUPPORT and ADMIN see
everything and may write both (``paykit.security.POLICY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidState, PermissionDenied, ValidationError
from paykit.models import (
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    SupportTicket,
    TicketMessage,
    TicketPriority,
    TicketStatus,
    User,
    UserStatus,
)
from paykit.security.policy import Action, Actor, allows, authorize, require
from paykit.services._audit import Audit, apply_changes
from paykit.services._choices import member
from paykit.services._inputs import text_field
from paykit.services._rows import found, listing_owner, load, owner_or_may, where_given
from paykit.services.reads import Page, active_actor, check_page_limit, newest_first

__all__ = [
    "TICKET_TRANSITIONS",
    "OrderView",
    "TicketOut",
    "add_ticket_message",
    "assign_ticket",
    "list_tickets",
    "open_ticket",
    "set_order_internal_notes",
    "set_ticket_status",
    "ticket_messages",
    "view_order",
]

_MAX_TEXT = 20_000


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as one actor may see it: ``internal_notes`` is ``None`` for customers."""

    id: str
    order_number: str
    user_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    currency: str
    subtotal: Decimal
    tax_amount: Decimal
    discount_amount: Decimal
    total_amount: Decimal
    refunded_amount: Decimal
    billing_address: Any
    shipping_address: Any
    notes: str | None
    internal_notes: str | None
    items: tuple[OrderItem, ...]
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None


_ORDER_VIEW_FIELDS = tuple(f.name for f in fields(OrderView) if f.name != "items")


def _actor_user(session: Session, actor: Actor) -> User:
    # The role that counts is the stored one: a stale Actor cannot escalate.
    return active_actor(session, actor, refusal="an active user is required")


@checked
def view_order(session: Session, *, actor: Actor, order_id: str) -> OrderView:
    """Read an order as ``actor``: a customer their own only, without internal notes."""
    user = _actor_user(session, actor)
    query = sa.select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    order = found(
        session.scalar(query),
        "order",
        order_id,
        visible=lambda row: owner_or_may(user, row.user_id, Action.READ_ANY_ORDER),
    )
    # The view is the order's own fields; a customer gets no internal notes.
    values = {name: getattr(order, name) for name in _ORDER_VIEW_FIELDS}
    if not allows(user.role, Action.READ_INTERNAL_NOTES):
        values["internal_notes"] = None
    return OrderView(**values, items=tuple(order.items))


@checked
def set_order_internal_notes(
    session: Session,
    *,
    actor: Actor,
    order_id: str,
    notes: str | None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Replace an order's internal notes (SUPPORT and ADMIN only)."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.WRITE_INTERNAL_NOTES)
    order = load(session, Order, order_id, "order")
    order.internal_notes = text_field(notes, "notes", _MAX_TEXT) if notes is not None else None
    order.updated_at = now
    # The content itself is staff-only; the audit log says that it changed.
    new = {"internal_notes": "changed" if notes is not None else None}
    Audit(session, now, actor.user_id, context).record(
        "order.internal_notes_changed", "orders", order.id, new=new
    )
    return order


@checked
def open_ticket(
    session: Session,
    *,
    actor: Actor,
    subject: str,
    description: str,
    priority: TicketPriority | str = TicketPriority.MEDIUM,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> SupportTicket:
    """Open a support ticket for the acting user."""
    now = resolve_clock(clock).now()
    user = _actor_user(session, actor)
    level = member(TicketPriority, priority, "priority")
    subject_text = text_field(subject, "subject", _MAX_TEXT)
    if len(subject_text) > 200:
        raise ValidationError("subject must be at most 200 characters", code="invalid_text")
    ticket = SupportTicket(
        customer_id=user.id,
        subject=subject_text,
        description=text_field(description, "description", _MAX_TEXT),
        priority=level,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    audit = Audit(session, now, user.id, context)
    audit.record("ticket.opened", "support_tickets", ticket.id, new={"priority": level.value})
    return ticket


def _ticket_for(session: Session, user: User, ticket_id: str, action: Action) -> SupportTicket:
    return load(
        session,
        SupportTicket,
        ticket_id,
        "ticket",
        visible=lambda ticket: owner_or_may(user, ticket.customer_id, action),
    )


@checked
def add_ticket_message(
    session: Session,
    *,
    actor: Actor,
    ticket_id: str,
    content: str,
    internal: bool = False,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> TicketMessage:
    """Post on a ticket: a customer on their own (never internal), staff on any."""
    now = resolve_clock(clock).now()
    user = _actor_user(session, actor)
    ticket = _ticket_for(session, user, ticket_id, Action.WRITE_ANY_TICKET)
    if internal:
        require(Actor(user.id, user.role), Action.WRITE_INTERNAL_MESSAGES)
    message = TicketMessage(
        ticket_id=ticket.id,
        user_id=user.id,
        content=text_field(content, "content", _MAX_TEXT),
        is_internal=internal,
        created_at=now,
    )
    session.add(message)
    ticket.updated_at = now
    session.flush()
    Audit(session, now, user.id, context).record(
        "ticket.message_added",
        "ticket_messages",
        message.id,
        new={"ticket_id": ticket.id, "is_internal": internal},
    )
    return message


@checked
def ticket_messages(session: Session, *, actor: Actor, ticket_id: str) -> list[TicketMessage]:
    """A ticket's messages, oldest first, as ``actor`` may see them (no internal ones for
    customers)."""
    user = _actor_user(session, actor)
    ticket = _ticket_for(session, user, ticket_id, Action.READ_ANY_TICKET)
    query = (
        sa.select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket.id)
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    if not allows(user.role, Action.READ_INTERNAL_MESSAGES):
        query = query.where(TicketMessage.is_internal.is_(False))
    return list(session.scalars(query))


class TicketOut(pydantic.BaseModel):
    """A support ticket as a listing shows it."""

    model_config = pydantic.ConfigDict(frozen=True, from_attributes=True)

    id: str
    customer_id: str
    assignee_id: str | None
    subject: str
    status: str
    priority: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


def _ticket_out(ticket: SupportTicket) -> TicketOut:
    return TicketOut(
        id=ticket.id,
        customer_id=ticket.customer_id,
        assignee_id=ticket.assignee_id,
        subject=ticket.subject,
        status=ticket.status.value,
        priority=ticket.priority.value,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at,
    )


#: Status -> the statuses a ticket may move to. Reopening a CLOSED ticket is staff's.
TICKET_TRANSITIONS: Mapping[TicketStatus, frozenset[TicketStatus]] = MappingProxyType(
    {
        TicketStatus.OPEN: frozenset(
            {TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, TicketStatus.CLOSED}
        ),
        TicketStatus.IN_PROGRESS: frozenset(
            {TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED}
        ),
        TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
        TicketStatus.CLOSED: frozenset({TicketStatus.OPEN}),
    }
)
_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def _ticket_status(status: TicketStatus | str) -> TicketStatus:
    return member(
        TicketStatus, status, "ticket status", code="invalid_status", details={"field": "status"}
    )


@checked
def set_ticket_status(
    session: Session,
    *,
    actor: Actor,
    ticket_id: str,
    status: TicketStatus | str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> TicketOut:
    """Move a ticket along :data:`TICKET_TRANSITIONS`; audited.

    Staff move any ticket; a customer may only close or reopen their own
    resolved ticket (``PermissionDenied`` otherwise). A move the table does not
    allow is ``InvalidState`` (``invalid_ticket_transition``); setting the
    status a ticket already has changes nothing. ``resolved_at`` is set when a
    ticket is resolved or closed and cleared when it is reopened.
    """
    now = resolve_clock(clock).now()
    user = _actor_user(session, actor)
    target = _ticket_status(status)
    ticket = _ticket_for(session, user, ticket_id, Action.WRITE_ANY_TICKET)
    session.refresh(ticket, with_for_update=True)
    current = ticket.status
    if target is current:
        return _ticket_out(ticket)
    staff = allows(user.role, Action.WRITE_ANY_TICKET)
    customer_may = target is TicketStatus.CLOSED or (
        current is TicketStatus.RESOLVED and target is TicketStatus.OPEN
    )
    if not staff and not customer_may:
        raise PermissionDenied(
            "only staff may set this status",
            details={"action": Action.WRITE_ANY_TICKET.value, "actor_id": user.id},
        )
    if target not in TICKET_TRANSITIONS[current]:
        raise InvalidState(
            f"a {current.value} ticket cannot become {target.value}",
            code="invalid_ticket_transition",
            details={"from": current.value, "to": target.value},
        )
    ticket.status = target
    ticket.updated_at = now
    if target in _DONE and ticket.resolved_at is None:
        ticket.resolved_at = now
    elif target not in _DONE:
        ticket.resolved_at = None
    Audit(session, now, user.id, context).record(
        "ticket.status_changed",
        "support_tickets",
        ticket.id,
        old={"status": current.value},
        new={"status": target.value},
    )
    return _ticket_out(ticket)


@checked
def assign_ticket(
    session: Session,
    *,
    actor: Actor,
    ticket_id: str,
    assignee_id: str | None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> TicketOut:
    """Assign a ticket to an active SUPPORT or ADMIN user (``None`` unassigns). Staff only.

    Anyone else as assignee is ``ValidationError`` (``invalid_assignee``).
    """
    now = resolve_clock(clock).now()
    user = authorize(session, actor, Action.WRITE_ANY_TICKET)
    ticket = _ticket_for(session, user, ticket_id, Action.WRITE_ANY_TICKET)
    session.refresh(ticket, with_for_update=True)
    if assignee_id is not None:
        assignee = session.get(User, assignee_id)
        if (
            assignee is None
            or assignee.status is not UserStatus.ACTIVE
            or assignee.deleted_at is not None
            or not allows(assignee.role, Action.WRITE_ANY_TICKET)
        ):
            raise ValidationError(
                "a ticket can be assigned only to an active staff member",
                code="invalid_assignee",
                details={"field": "assignee_id"},
            )
    old, new = apply_changes(ticket, {"assignee_id": assignee_id}, keep_on_none=lambda _: False)
    audit = Audit(session, now, user.id, context)
    audit.changes(ticket, old, new, action="ticket.assigned", resource="support_tickets")
    return _ticket_out(ticket)


@checked
def list_tickets(
    session: Session,
    *,
    actor: Actor,
    customer_id: str | None = None,
    assignee_id: str | None = None,
    status: TicketStatus | str | None = None,
    priority: TicketPriority | str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[TicketOut]:
    """Tickets newest first, one keyset page at a time.

    A customer sees their own only (naming another ``customer_id`` is
    ``PermissionDenied``); staff see all, filtered by customer, assignee,
    status and priority. ``limit`` 1..100 (``invalid_limit``); ``cursor`` is the
    previous page's ``next_cursor`` for the same filter (``invalid_cursor``).
    """
    user = _actor_user(session, actor)
    check_page_limit(limit)
    customer_id = listing_owner(user, customer_id, Action.READ_ANY_TICKET, "tickets")
    state = None if status is None else _ticket_status(status)
    level = (
        None
        if priority is None
        else member(TicketPriority, priority, "priority", details={"field": "priority"})
    )
    scope = {
        "tickets": user.id,
        "customer": customer_id,
        "assignee": assignee_id,
        "status": state.value if state else None,
        "priority": level.value if level else None,
    }
    query = where_given(
        sa.select(SupportTicket),
        (SupportTicket.customer_id, customer_id),
        (SupportTicket.assignee_id, assignee_id),
        (SupportTicket.status, state),
        (SupportTicket.priority, level),
    )
    rows, next_cursor = newest_first(
        session, query, SupportTicket, scope=scope, cursor=cursor, limit=limit
    )
    return Page[TicketOut](items=[_ticket_out(t) for t in rows], next_cursor=next_cursor)
