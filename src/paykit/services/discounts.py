"""Discount rules that touch the database: the one home of a code's limits.

The pure math (eligibility in :data:`paykit.pricing.DISCOUNT_CHECK_ORDER`,
amounts, allocation) lives in :mod:`paykit.pricing`; this module reads what
that math needs and enforces the counters in the database. Orders and
subscriptions (``subscribe``) both redeem codes through it, so a rule is never
written twice.

API (within paykit; every function takes the session first)::

    check_discount(session, *, code, customer_id, product_ids, amount, currency, now,
                   exclude_order=None) -> DiscountRef
        load the code and enforce every rule against the database's counts:
        active, validity window, max_uses, max_uses_per_customer,
        first_time_only, applicable products, minimum amount. ``amount`` is
        what the code would apply to, in ``currency``; it is eligible when one
        of ``product_ids`` is covered (or the code covers everything).
        Refusals are DiscountError with the codes place_order raises.
    load(session, code) -> DiscountRef          discount_not_found if no code matches
    usage(session, discount, customer_id, exclude_order=None) -> DiscountUsageCounts
        the counts pricing.price_order checks a rule against
    check_customer_limits(session, discount, *, customer_id, order_id) -> None
        inside the writing transaction: lock the customer row (serializing one
        customer's redemptions), then re-count max_uses_per_customer and
        first_time_only exactly (discount_customer_limit, discount_first_time_only)
    take_use(session, discount, *, customer_id, order_id, amount_saved, now) -> None
        the conditional UPDATE of current_uses (active, below max_uses) and the
        DiscountUsage row, or discount_exhausted; nothing is written on refusal
    release_use(session, *, now, order_id=None, usage_id=None) -> None
        give back the uses an order holds (or one usage row): current_uses - 1
        and the DiscountUsage row deleted. Call it only after winning the state
        change that makes the release happen once.

The advisory checks (``check_discount``, ``usage`` fed to ``price_order``) let a
call fail before anyone's payment is created; the guards that decide are
``check_customer_limits`` and ``take_use``, run last, in the lock order
customer, products by id, discount. ``DISCOUNT_ROW``/``DISCOUNT_FIELDS``/
``from_row`` let a hot path read the discount as one row joined onto its own
query, and ``TAKE_USE``/``record_use_from``/``use_params`` let it fold the take
into one statement (see ``paykit.services.orders.statements``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import DiscountError, ValidationError
from paykit.models import (
    Discount,
    DiscountUsage,
    Order,
    OrderStatus,
    PaymentStatus,
    ProductDiscount,
    User,
    new_id,
)
from paykit.models.discounts import code_matches
from paykit.pricing import (
    DiscountRule,
    DiscountUsageCounts,
    LineInput,
    check_discount_eligibility,
)
from paykit.services._sql import affected

__all__ = [
    "DISCOUNT_FIELDS",
    "DISCOUNT_ROW",
    "TAKE_USE",
    "DiscountRef",
    "check_customer_limits",
    "check_discount",
    "customer_uses",
    "from_joined_row",
    "from_row",
    "has_earlier_order",
    "load",
    "not_found",
    "record_use_from",
    "release_use",
    "take_use",
    "usage",
    "use_params",
    "used_up",
]

_OPEN = (OrderStatus.PENDING, OrderStatus.PROCESSING)
_PAID = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


@dataclass(frozen=True, slots=True)
class DiscountRef:
    """A discount code as the services need it: its row id, its use count when read,
    and its terms as a :class:`~paykit.pricing.DiscountRule` (products included)."""

    id: str
    current_uses: int
    rule: DiscountRule

    @property
    def code(self) -> str:
        """The code as stored."""
        return self.rule.code

    @property
    def first_time_only(self) -> bool:
        """Whether only a customer's first order may use it."""
        return self.rule.first_time_only

    @property
    def max_uses_per_customer(self) -> int | None:
        """How often one customer may use it (None: no limit)."""
        return self.rule.max_uses_per_customer


# --- reading a code ------------------------------------------------------------------

#: The Discount columns a rule is built from, in the order of ``DISCOUNT_ROW``.
DISCOUNT_FIELDS = (
    "id",
    "code",
    "type",
    "value",
    "currency",
    "active",
    "valid_from",
    "valid_until",
    "minimum_amount",
    "first_time_only",
    "max_uses",
    "max_uses_per_customer",
    "current_uses",
)

_BY_CODE = (
    sa.select(
        *(getattr(Discount, name) for name in DISCOUNT_FIELDS),
        ProductDiscount.product_id,
    )
    .outerjoin(ProductDiscount, ProductDiscount.discount_id == Discount.id)
    .where(code_matches(sa.bindparam("code")))
)

#: The discount named by the bind parameter ``code`` as one row: ``discount_<field>``
#: for each of ``DISCOUNT_FIELDS`` and ``discount_products``, its product
#: restrictions folded into one comma-separated string. A subquery to join onto.
DISCOUNT_ROW = (
    sa.select(
        *(getattr(Discount, name).label(f"discount_{name}") for name in DISCOUNT_FIELDS),
        sa.func.aggregate_strings(ProductDiscount.product_id, ",").label("discount_products"),
    )
    .outerjoin(ProductDiscount, ProductDiscount.discount_id == Discount.id)
    .where(code_matches(sa.bindparam("code")))
    .group_by(Discount.id)
    .subquery("discount")
)


def not_found(code: str) -> DiscountError:
    """The refusal for a code no discount has."""
    return DiscountError(f"discount code {code!r} does not exist", code="discount_not_found")


def from_row(values: Mapping[str, Any], product_ids: frozenset[str]) -> DiscountRef:
    """Build a :class:`DiscountRef` from the ``DISCOUNT_FIELDS`` of a row."""
    rule = DiscountRule(
        code=values["code"],
        type=values["type"].value,
        value=values["value"],
        currency=values["currency"],
        active=values["active"],
        valid_from=values["valid_from"],
        valid_until=values["valid_until"],
        minimum_amount=values["minimum_amount"],
        first_time_only=values["first_time_only"],
        max_uses=values["max_uses"],
        max_uses_per_customer=values["max_uses_per_customer"],
        product_ids=product_ids,
    )
    return DiscountRef(values["id"], values["current_uses"], rule)


def from_joined_row(row: Any, code: str) -> DiscountRef:
    """The discount of a row that joined ``DISCOUNT_ROW``; ``discount_not_found`` if none."""
    if row.discount_id is None:
        raise not_found(code)
    products = row.discount_products
    return from_row(
        {name: getattr(row, f"discount_{name}") for name in DISCOUNT_FIELDS},
        frozenset(products.split(",")) if products else frozenset(),
    )


def load(session: Session, code: str) -> DiscountRef:
    """The discount whose code is ``code`` (whatever the case), with its products."""
    rows = session.connection().execute(_BY_CODE, {"code": code}).all()
    if not rows:
        raise not_found(code)
    return from_row(
        dict(rows[0]._mapping), frozenset(r.product_id for r in rows if r.product_id is not None)
    )


# --- the counts a rule is checked against -------------------------------------------


def customer_uses(
    session: Session, discount_id: str, customer_id: str, exclude_order: str | None = None
) -> int:
    """How many uses of the discount the customer holds (``exclude_order``'s aside)."""
    query = sa.select(sa.func.count()).where(
        DiscountUsage.discount_id == discount_id, DiscountUsage.user_id == customer_id
    )
    if exclude_order is not None:
        query = query.where(
            sa.or_(DiscountUsage.order_id.is_(None), DiscountUsage.order_id != exclude_order)
        )
    return int(session.scalar(query) or 0)


def has_earlier_order(
    session: Session, discount_id: str, customer_id: str, exclude_order: str | None
) -> bool:
    """For first-time-only codes: a paid order, or an open order that already holds
    a use of this code (two unpaid orders cannot both be the "first")."""
    paid = sa.select(Order.id).where(Order.user_id == customer_id, Order.payment_status.in_(_PAID))
    holding = (
        sa.select(Order.id)
        .join(DiscountUsage, DiscountUsage.order_id == Order.id)
        .where(
            Order.user_id == customer_id,
            Order.status.in_(_OPEN),
            DiscountUsage.discount_id == discount_id,
        )
    )
    if exclude_order is not None:
        paid = paid.where(Order.id != exclude_order)
        holding = holding.where(Order.id != exclude_order)
    query = sa.select(sa.or_(sa.exists(paid), sa.exists(holding)))
    return bool(session.connection().execute(query).scalar())


def usage(
    session: Session, discount: DiscountRef, customer_id: str, exclude_order: str | None = None
) -> DiscountUsageCounts:
    """The counts :func:`paykit.pricing.price_order` checks the rule against; only
    the queries the rule needs are run."""
    has_paid = False
    if discount.first_time_only:
        has_paid = has_earlier_order(session, discount.id, customer_id, exclude_order)
    uses = 0
    if discount.max_uses_per_customer is not None:
        uses = customer_uses(session, discount.id, customer_id, exclude_order)
    return DiscountUsageCounts(
        total_uses=discount.current_uses,
        customer_uses=uses,
        customer_has_paid_order=has_paid,
    )


def check_discount(
    session: Session,
    *,
    code: str,
    customer_id: str,
    product_ids: Sequence[str],
    amount: Decimal,
    currency: str,
    now: datetime,
    exclude_order: str | None = None,
) -> DiscountRef:
    """Load ``code`` and check every rule for a purchase of ``amount`` (in
    ``currency``) of ``product_ids`` by ``customer_id`` at ``now``.

    The checks and their codes are :func:`paykit.pricing.check_discount_eligibility`'s
    (``discount_inactive``, ``discount_not_yet_valid``, ``discount_expired``,
    a currency mismatch, ``discount_exhausted``, ``discount_customer_limit``,
    ``discount_first_time_only``, ``discount_not_applicable``,
    ``discount_minimum_not_met``), after ``discount_not_found``. Advisory, like
    every read: :func:`check_customer_limits` and :func:`take_use` decide.
    """
    if not product_ids:
        raise ValidationError("product_ids must name at least one product", code="invalid_argument")
    discount = load(session, code)
    covered = discount.rule.product_ids
    # The amount counts as one line of the first covered product (or of the
    # first product: then the restriction refuses it, as it would an order).
    product_id = next((p for p in product_ids if p in covered), product_ids[0])
    line = LineInput(
        key=product_id, product_id=product_id, unit_price=amount, quantity=1, currency=currency
    )
    check_discount_eligibility(
        discount.rule,
        [line],
        usage=usage(session, discount, customer_id, exclude_order),
        now=now,
    )
    return discount


# --- the guards: taking and releasing a use -----------------------------------------


def check_customer_limits(
    session: Session, discount: DiscountRef, *, customer_id: str, order_id: str | None
) -> None:
    """The per-customer rules, exact: the customer row is locked first (one customer's
    parallel redemptions queue here), then the counts are read again."""
    if discount.max_uses_per_customer is None and not discount.first_time_only:
        return
    session.execute(
        sa.select(User.id).where(User.id == customer_id).with_for_update(key_share=True)
    )
    limit = discount.max_uses_per_customer
    if limit is not None and customer_uses(session, discount.id, customer_id) >= limit:
        raise DiscountError(
            f"discount {discount.code!r} was already used the maximum number of times "
            "by this customer",
            code="discount_customer_limit",
        )
    if discount.first_time_only and has_earlier_order(session, discount.id, customer_id, order_id):
        raise DiscountError(
            f"discount {discount.code!r} is for a customer's first order only",
            code="discount_first_time_only",
        )


#: The conditional UPDATE that takes one use (parameters ``discount_id``, ``now``):
#: it affects no row when the code is inactive or used up.
TAKE_USE = (
    sa.update(Discount)
    .where(
        Discount.id == sa.bindparam("discount_id"),
        Discount.active.is_(True),
        sa.or_(Discount.max_uses.is_(None), Discount.current_uses < Discount.max_uses),
    )
    .values(current_uses=Discount.current_uses + 1, updated_at=sa.bindparam("now"))
)

_USAGE_COLUMNS = ("id", "discount_id", "user_id", "order_id", "amount_saved", "created_at")
# Parameters are named u_<column>: an UPDATE given a parameter named like one of
# its table's columns would SET that column.
_RECORD_USE = sa.insert(DiscountUsage).values(
    {name: sa.bindparam(f"u_{name}") for name in _USAGE_COLUMNS}
)


def record_use_from(taken: Any, names: Mapping[str, str] | None = None) -> Any:
    """INSERT the usage row once per row of ``taken`` (a ``TAKE_USE ... RETURNING
    id`` CTE): no use taken, no row recorded. Parameters as :func:`use_params`;
    ``names`` binds some columns to parameters of other names instead."""
    column = DiscountUsage.__table__.c
    names = names or {}
    values = [
        sa.bindparam(names.get(name, f"u_{name}"), type_=column[name].type)
        if name != "discount_id"
        else taken.c.id
        for name in _USAGE_COLUMNS
    ]
    return (
        sa.insert(DiscountUsage)
        .from_select(list(_USAGE_COLUMNS), sa.select(*values))
        .returning(DiscountUsage.id)
    )


def _take_and_record_use() -> Any:
    # PostgreSQL: take the use and record it in one statement (a data-modifying CTE).
    taken = TAKE_USE.returning(Discount.id).cte("taken")
    return record_use_from(taken).add_cte(taken)


_TAKE_AND_RECORD_USE = _take_and_record_use()


def use_params(
    discount: DiscountRef,
    *,
    customer_id: str,
    order_id: str | None,
    amount_saved: Decimal,
    now: datetime,
) -> dict[str, Any]:
    """The parameters of ``TAKE_USE`` and of the usage row it records."""
    return {
        "discount_id": discount.id,
        "now": now,
        "u_id": new_id(),
        "u_discount_id": discount.id,
        "u_user_id": customer_id,
        "u_order_id": order_id,
        "u_amount_saved": amount_saved,
        "u_created_at": now,
    }


def used_up(discount: DiscountRef) -> DiscountError:
    """The refusal for a code that has no use left (or was deactivated meanwhile)."""
    return DiscountError(f"discount {discount.code!r} has been used up", code="discount_exhausted")


def take_use(
    session: Session,
    discount: DiscountRef,
    *,
    customer_id: str,
    order_id: str | None,
    amount_saved: Decimal,
    now: datetime,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Take one use of ``discount`` and record it (``DiscountUsage``), or raise
    ``discount_exhausted`` having written nothing. Core statements, kept out of
    the identity map: a caller's savepoint rollback takes them back cleanly."""
    if params is None:
        params = use_params(
            discount, customer_id=customer_id, order_id=order_id, amount_saved=amount_saved, now=now
        )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        used = len(connection.execute(_TAKE_AND_RECORD_USE, dict(params)).all())
    else:
        take = {"discount_id": params["discount_id"], "now": params["now"]}
        used = connection.execute(TAKE_USE, take).rowcount
        if used == 1:
            connection.execute(_RECORD_USE, {k: v for k, v in params.items() if k[:2] == "u_"})
    if used != 1:
        raise used_up(discount)


def release_use(
    session: Session, *, now: datetime, order_id: str | None = None, usage_id: str | None = None
) -> None:
    """Give back the uses held by ``order_id`` (or the one ``usage_id``): each
    discount's ``current_uses`` goes down by one (never below 0) and the usage
    row is deleted, discounts in id order."""
    if (order_id is None) == (usage_id is None):
        raise ValidationError("release_use needs exactly one of order_id and usage_id")
    query = sa.select(DiscountUsage.id, DiscountUsage.discount_id).order_by(
        DiscountUsage.discount_id
    )
    if order_id is not None:
        query = query.where(DiscountUsage.order_id == order_id)
    else:
        query = query.where(DiscountUsage.id == usage_id)
    for found_id, discount_id in session.execute(query).all():
        affected(
            session,
            sa.update(Discount)
            .where(Discount.id == discount_id, Discount.current_uses > 0)
            .values(current_uses=Discount.current_uses - 1, updated_at=now),
        )
        session.execute(sa.delete(DiscountUsage).where(DiscountUsage.id == found_id))
