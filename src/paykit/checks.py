"""``check(session) -> Report``: paykit's money and stock invariants, checked in SQL.

Each invariant is one set-based query that selects the ids of the rows that
break it, so the database does the work in one pass whatever the size of the
tables, and Python only reads the offenders' count and a few example ids.
``docs/operations.md`` explains every invariant, why the services keep it, and
when to run ``paykit check``.

Only states the services cannot produce are findings. Where the schema cannot
tell (paykit keeps no starting stock, so stock is checked for sign only), the
limit is written next to the invariant and in ``docs/operations.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.errors import ValidationError
from paykit.models import (
    AuditLog,
    Discount,
    DiscountUsage,
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    Product,
    Refund,
    RefundStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from paykit.models.config import AUDIT_CUTOFF_KEY, SystemConfig
from paykit.models.orders import PAID_PAYMENT
from paykit.models.types import UTCDateTime

__all__ = ["EXAMPLES", "INVARIANTS", "Finding", "Invariant", "Report", "check"]

EXAMPLES = 5
"""How many example ids a finding carries (the count is always exact)."""

_OS = OrderStatus
_PS = PaymentStatus

# The (status, payment_status) pairs of docs/orders.md's lifecycle, and no others.
_LEGAL_PAIRS = (
    (_OS.PENDING, _PS.PENDING),
    (_OS.PROCESSING, _PS.PROCESSING),
    (_OS.COMPLETED, _PS.SUCCEEDED),
    (_OS.CANCELLED, _PS.FAILED),  # paykit 0.1's failed payments; no longer written
    (_OS.CANCELLED, _PS.CANCELLED),
    # A payment for another amount than its order's, refunded (with its Refund row).
    (_OS.CANCELLED, _PS.REFUNDED),
    (_OS.REFUNDED, _PS.REFUNDED),
)
# The audit actions that record an order's creation (a declined card writes the second).
_ORDER_CREATED = ("order.created", "order.payment_declined")


@dataclass(frozen=True, slots=True)
class Invariant:
    """One rule: its stable ``name``, what it says, and the query of the rows that break it.

    ``offenders()`` returns a SELECT of one column, ``id``: the id of each
    offending row (of the table named by ``table``).
    """

    name: str
    table: str
    description: str
    offenders: Callable[[], sa.Select[Any]]


@dataclass(frozen=True, slots=True)
class Finding:
    """An invariant that does not hold: how many rows break it, and a few of their ids."""

    invariant: str
    table: str
    description: str
    count: int
    examples: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict of the finding."""
        return {
            "invariant": self.invariant,
            "table": self.table,
            "description": self.description,
            "count": self.count,
            "examples": list(self.examples),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`check` found: ``findings`` (empty when all is well) and what was checked.

    ``seconds`` holds each checked invariant's query time, for operators who
    want to see what a large database costs.
    """

    checked: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no invariant is broken."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict: ``ok``, ``checked``, ``findings`` and ``seconds``."""
        return {
            "ok": self.ok,
            "checked": list(self.checked),
            "findings": [finding.to_dict() for finding in self.findings],
            "seconds": {name: round(value, 6) for name, value in self.seconds.items()},
        }

    def format(self) -> str:
        """A readable report: one block per finding, or one line saying all is well."""
        if self.ok:
            return f"paykit check: OK ({len(self.checked)} invariants hold)"
        lines = [
            f"paykit check: {len(self.findings)} of {len(self.checked)} invariants broken",
        ]
        for finding in self.findings:
            lines.append("")
            lines.append(f"{finding.invariant}: {finding.count} {finding.table} row(s)")
            lines.append(f"  rule: {finding.description}")
            more = finding.count - len(finding.examples)
            suffix = f" (and {more} more)" if more > 0 else ""
            lines.append(f"  e.g.: {', '.join(finding.examples)}{suffix}")
        return "\n".join(lines)


# --------------------------------------------------------------------- the queries


def _order_total() -> sa.Select[Any]:
    return sa.select(Order.id).where(
        Order.total_amount != Order.subtotal - Order.discount_amount + Order.tax_amount
    )


def _order_amounts() -> sa.Select[Any]:
    return sa.select(Order.id).where(
        sa.or_(
            Order.subtotal < 0,
            Order.discount_amount < 0,
            Order.discount_amount > Order.subtotal,
            Order.tax_amount < 0,
            Order.total_amount < 0,
        )
    )


def _order_subtotal() -> sa.Select[Any]:
    items = (
        sa.select(OrderItem.order_id, sa.func.sum(OrderItem.total_price).label("subtotal"))
        .group_by(OrderItem.order_id)
        .subquery("items")
    )
    return (
        sa.select(Order.id)
        .outerjoin(items, items.c.order_id == Order.id)
        .where(sa.or_(items.c.subtotal.is_(None), items.c.subtotal != Order.subtotal))
    )


def _order_item_total() -> sa.Select[Any]:
    return sa.select(OrderItem.id).where(
        OrderItem.total_price != OrderItem.unit_price * OrderItem.quantity
    )


def _order_status() -> sa.Select[Any]:
    legal = sa.or_(
        *(sa.and_(Order.status == s, Order.payment_status == p) for s, p in _LEGAL_PAIRS)
    )
    return sa.select(Order.id).where(sa.not_(legal))


def _order_timestamps() -> sa.Select[Any]:
    # REFUNDED is left out: a refund recorded by webhook may reach an order the
    # services never marked paid, or one cancelled before its payment landed.
    return sa.select(Order.id).where(
        sa.or_(
            sa.and_(
                Order.status.in_((_OS.PENDING, _OS.PROCESSING)),
                sa.or_(Order.completed_at.is_not(None), Order.cancelled_at.is_not(None)),
            ),
            sa.and_(
                Order.status == _OS.COMPLETED,
                sa.or_(Order.completed_at.is_(None), Order.cancelled_at.is_not(None)),
            ),
            sa.and_(
                Order.status == _OS.CANCELLED,
                sa.or_(Order.cancelled_at.is_(None), Order.completed_at.is_not(None)),
            ),
        )
    )


def _order_paid_payment() -> sa.Select[Any]:
    return sa.select(Order.id).where(
        sa.or_(
            Order.status.in_((_OS.COMPLETED, _OS.REFUNDED)),
            Order.payment_status.in_(PAID_PAYMENT),
        ),
        Order.stripe_payment_intent_id.is_(None),
        Order.total_amount != 0,  # a free order needs no payment
    )


def _refund_sums(*statuses: RefundStatus) -> sa.Subquery:
    return (
        sa.select(Refund.order_id, sa.func.sum(Refund.amount).label("amount"))
        .where(Refund.status.in_(statuses))
        .group_by(Refund.order_id)
        .subquery("refunded")
    )


def _order_refunded_amount() -> sa.Select[Any]:
    succeeded = _refund_sums(RefundStatus.SUCCEEDED)
    return (
        sa.select(Order.id)
        .outerjoin(succeeded, succeeded.c.order_id == Order.id)
        .where(
            sa.or_(
                sa.and_(succeeded.c.amount.is_(None), Order.refunded_amount != 0),
                succeeded.c.amount != Order.refunded_amount,
            )
        )
    )


def _order_refund_bound() -> sa.Select[Any]:
    # Pending refunds count too: the gateway holds their money back from the charge.
    held = _refund_sums(RefundStatus.SUCCEEDED, RefundStatus.PENDING)
    return (
        sa.select(Order.id)
        .outerjoin(held, held.c.order_id == Order.id)
        .where(
            sa.or_(
                Order.refunded_amount < 0,
                Order.refunded_amount > Order.total_amount,
                held.c.amount > Order.total_amount,
            )
        )
    )


def _order_refund_status() -> sa.Select[Any]:
    full = sa.and_(Order.refunded_amount == Order.total_amount, Order.refunded_amount > 0)
    return sa.select(Order.id).where(
        sa.or_(
            sa.and_(Order.status == _OS.REFUNDED, sa.not_(full)),
            sa.and_(Order.status.not_in((_OS.REFUNDED, _OS.CANCELLED)), full),
            sa.and_(Order.refunded_amount > 0, Order.payment_status.not_in(PAID_PAYMENT)),
        )
    )


def _refund_order() -> sa.Select[Any]:
    return (
        sa.select(Refund.id)
        .join(Order, Order.id == Refund.order_id)
        .where(
            sa.or_(
                Order.payment_status.not_in(PAID_PAYMENT),
                Refund.currency != Order.currency,
                sa.and_(Refund.status == RefundStatus.SUCCEEDED, Refund.processed_at.is_(None)),
                sa.and_(Refund.status != RefundStatus.SUCCEEDED, Refund.processed_at.is_not(None)),
            )
        )
    )


def _discount_uses() -> sa.Select[Any]:
    # Subscriptions' uses (order_id NULL) and uses of since-deleted orders count:
    # only cancelling an unpaid order gives a use back, and it deletes the row.
    uses = (
        sa.select(DiscountUsage.discount_id, sa.func.count().label("uses"))
        .group_by(DiscountUsage.discount_id)
        .subquery("uses")
    )
    live = sa.func.coalesce(uses.c.uses, 0)
    return (
        sa.select(Discount.id)
        .outerjoin(uses, uses.c.discount_id == Discount.id)
        .where(
            sa.or_(
                live != Discount.current_uses,
                sa.and_(Discount.max_uses.is_not(None), live > Discount.max_uses),
            )
        )
    )


def _order_discount_usage() -> sa.Select[Any]:
    usage = (
        sa.select(
            DiscountUsage.order_id,
            sa.func.count().label("uses"),
            sa.func.max(DiscountUsage.amount_saved).label("saved"),
            sa.func.max(DiscountUsage.user_id).label("user_id"),
        )
        .where(DiscountUsage.order_id.is_not(None))
        .group_by(DiscountUsage.order_id)
        .subquery("usage")
    )
    return (
        sa.select(Order.id)
        .outerjoin(usage, usage.c.order_id == Order.id)
        .where(
            sa.or_(
                # Cancelling gives the use back; a declined or compensated order never kept one.
                sa.and_(Order.status == _OS.CANCELLED, usage.c.uses.is_not(None)),
                usage.c.uses > 1,
                usage.c.saved != Order.discount_amount,
                usage.c.user_id != Order.user_id,
                # A REFUNDED order may have been cancelled (and given its use back) first.
                sa.and_(
                    Order.status.in_((_OS.PENDING, _OS.PROCESSING, _OS.COMPLETED)),
                    Order.discount_amount > 0,
                    usage.c.uses.is_(None),
                ),
            )
        )
    )


def _product_stock() -> sa.Select[Any]:
    return sa.select(Product.id).where(Product.stock_quantity < 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AUDIT_CUTOFF = sa.bindparam("audit_cutoff", value=_EPOCH, type_=UTCDateTime())


def _audit_cutoff(session: Session) -> datetime:
    """The newest cut-off of an audit purge (``system_config``), or the epoch."""
    raw = session.scalar(sa.select(SystemConfig.value).where(SystemConfig.key == AUDIT_CUTOFF_KEY))
    try:
        return datetime.fromisoformat(raw) if raw else _EPOCH
    except ValueError:
        return _EPOCH


def _unaudited(row: Any, actions: Sequence[str]) -> sa.Select[Any]:
    # Matched on action and resource_id only: the action names its resource
    # ("refund.created" is only ever written for refunds), and PostgreSQL,
    # multiplying the selectivities of resource and action as if unrelated,
    # underestimated the matching rows 60-fold and chose a nested-loop anti
    # join that took 36 s for 20,000 refunds. One column's statistics are right.
    audited = sa.exists(
        sa.select(AuditLog.id).where(AuditLog.resource_id == row.id, AuditLog.action.in_(actions))
    )
    # Rows created before retention's audit cut-off may have lost their audit row
    # on purpose (paykit.services.retention); check() binds the cut-off.
    return sa.select(row.id).where(sa.not_(audited), row.created_at >= _AUDIT_CUTOFF)


def _order_audit() -> sa.Select[Any]:
    return _unaudited(Order, _ORDER_CREATED)


def _refund_audit() -> sa.Select[Any]:
    return _unaudited(Refund, ("refund.created",))


def _webhook_event_state() -> sa.Select[Any]:
    s = WebhookEventStatus
    return sa.select(WebhookEvent.id).where(
        sa.or_(
            _event_state_broken((s.PROCESSED, s.IGNORED), processed=True, failed=False),
            _event_state_broken((s.FAILED,), processed=False, failed=True),
            _event_state_broken((s.DEAD,), processed=False, failed=True, attempted=False),
            _event_state_broken((s.PENDING,), processed=False, failed=False, attempted=False),
            WebhookEvent.status.not_in([member.value for member in s]),
        )
    )


def _event_state_broken(
    statuses: Sequence[WebhookEventStatus], *, processed: bool, failed: bool, attempted: bool = True
) -> sa.ColumnElement[bool]:
    """Events in ``statuses`` whose processed_at, last_error or attempts say otherwise."""
    event = WebhookEvent
    broken: list[sa.ColumnElement[bool]] = [
        event.processed_at.is_(None) if processed else event.processed_at.is_not(None),
        event.last_error.is_(None) if failed else event.last_error.is_not(None),
    ]
    if attempted:
        broken.append(event.attempts < 1)
    return sa.and_(event.status.in_([status.value for status in statuses]), sa.or_(*broken))


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "order_total",
        "orders",
        "total_amount = subtotal - discount_amount + tax_amount",
        _order_total,
    ),
    Invariant(
        "order_amounts",
        "orders",
        "subtotal, discount, tax and total are >= 0 and the discount is at most the subtotal",
        _order_amounts,
    ),
    Invariant(
        "order_subtotal",
        "orders",
        "an order has items and its subtotal is the sum of their total_price",
        _order_subtotal,
    ),
    Invariant(
        "order_item_total",
        "order_items",
        "an item's total_price = unit_price x quantity",
        _order_item_total,
    ),
    Invariant(
        "order_status",
        "orders",
        "(status, payment_status) is a pair of the order lifecycle",
        _order_status,
    ),
    Invariant(
        "order_timestamps",
        "orders",
        "open orders have neither completed_at nor cancelled_at; COMPLETED ones have "
        "completed_at only; CANCELLED ones have cancelled_at only",
        _order_timestamps,
    ),
    Invariant(
        "order_paid_payment",
        "orders",
        "a paid, completed or refunded order has its gateway payment id",
        _order_paid_payment,
    ),
    Invariant(
        "order_refunded_amount",
        "orders",
        "refunded_amount = the sum of SUCCEEDED refunds (an order compensated at "
        "place_order: the whole total, with no Refund rows)",
        _order_refunded_amount,
    ),
    Invariant(
        "order_refund_bound",
        "orders",
        "0 <= refunded_amount <= total_amount, and SUCCEEDED plus PENDING refunds <= total_amount",
        _order_refund_bound,
    ),
    Invariant(
        "order_refund_status",
        "orders",
        "status REFUNDED exactly when fully refunded (refunded_amount = total_amount > 0); "
        "money refunded only on a paid order",
        _order_refund_status,
    ),
    Invariant(
        "refund_order",
        "refunds",
        "a refund belongs to a paid order, in its currency; processed_at is set exactly "
        "when SUCCEEDED",
        _refund_order,
    ),
    Invariant(
        "discount_uses",
        "discounts",
        "current_uses = the discount's live usage rows, never above max_uses",
        _discount_uses,
    ),
    Invariant(
        "order_discount_usage",
        "orders",
        "an open or completed order with a discount holds exactly one use, by its customer, "
        "with amount_saved = discount_amount; a cancelled order holds none",
        _order_discount_usage,
    ),
    Invariant(
        "product_stock",
        "products",
        "stock_quantity >= 0",
        _product_stock,
    ),
    Invariant(
        "order_audit",
        "orders",
        "every order has its order.created (or order.payment_declined) audit row",
        _order_audit,
    ),
    Invariant(
        "refund_audit",
        "refunds",
        "every refund has its refund.created audit row",
        _refund_audit,
    ),
    Invariant(
        "webhook_event_state",
        "paykit_webhook_events",
        "processed and ignored events have processed_at and no error; failed and dead "
        "ones have their error and no processed_at; pending ones neither",
        _webhook_event_state,
    ),
)
"""Every invariant :func:`check` knows, in the order it checks them."""

_BY_NAME = {invariant.name: invariant for invariant in INVARIANTS}


def _select(names: Iterable[str] | None) -> tuple[Invariant, ...]:
    if names is None:
        return INVARIANTS
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise ValidationError(
            "invariants must be a list of invariant names", code="invalid_argument"
        )
    wanted = list(names)
    if not all(isinstance(name, str) for name in wanted):
        raise ValidationError("invariant names are strings", code="invalid_argument")
    unknown = sorted(set(wanted) - set(_BY_NAME))
    if unknown:
        raise ValidationError(
            f"unknown invariant(s): {', '.join(unknown)}",
            code="unknown_invariant",
            details={"unknown": unknown, "known": sorted(_BY_NAME)},
        )
    return tuple(invariant for invariant in INVARIANTS if invariant.name in wanted)


def _run(session: Session, invariant: Invariant, audit_cutoff: datetime = _EPOCH) -> Finding | None:
    # MATERIALIZED: planned on its own, for its whole result. Inlined under the
    # LIMIT below, PostgreSQL costed an early stop and picked an ordered
    # nested-loop anti join that took 30 s for 20,000 refunds (the window count
    # needs every row anyway).
    offenders = (
        invariant.offenders().cte("offenders").prefix_with("MATERIALIZED", dialect="postgresql")
    )
    # The window count is taken before LIMIT: the exact count and a few ids in one query.
    statement = (
        sa.select(sa.func.count().over().label("n"), offenders.c.id)
        .order_by(offenders.c.id)
        .limit(EXAMPLES)
    ).params(audit_cutoff=audit_cutoff)
    rows = session.execute(statement).all()
    if not rows:
        return None
    return Finding(
        invariant=invariant.name,
        table=invariant.table,
        description=invariant.description,
        count=int(rows[0].n),
        examples=tuple(str(row.id) for row in rows),
    )


@checked
def check(session: Session, *, invariants: Iterable[str] | None = None) -> Report:
    """Check paykit's money and stock invariants and report the rows that break them.

    Each invariant (see :data:`INVARIANTS` and docs/operations.md) is one
    set-based query; ``invariants`` restricts the run to those names (an
    unknown name is a ``ValidationError``, code ``unknown_invariant``). Reads
    only: nothing is written or locked. Run it in a transaction of its own
    (on PostgreSQL, ``REPEATABLE READ`` gives all queries one snapshot; the
    CLI does that) so concurrent writers cannot produce a false finding.
    """
    selected = _select(invariants)
    session.flush()
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    cutoff = _audit_cutoff(session)
    for invariant in selected:
        started = time.perf_counter()
        finding = _run(session, invariant, cutoff)
        seconds[invariant.name] = time.perf_counter() - started
        if finding is not None:
            findings.append(finding)
    return Report(
        checked=tuple(invariant.name for invariant in selected),
        findings=tuple(findings),
        seconds=seconds,
    )
