"""Catalog administration: products, prices and discounts. ADMIN only (``paykit.security.POLICY``).

Each function checks the actor against the policy table first, validates its
input with the schemas of :mod:`paykit.schemas.admin`, writes, audits and
flushes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import Conflict, NotFound, ValidationError
from paykit.models import (
    Discount,
    DiscountType,
    Price,
    PriceType,
    Product,
    ProductDiscount,
    ProductStatus,
)
from paykit.money import as_money, normalize_currency, quantize
from paykit.schemas.admin import (
    DiscountInput,
    DiscountUpdate,
    PriceInput,
    ProductInput,
    ProductUpdate,
)
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import Audit, apply_changes
from paykit.services._inputs import parsed
from paykit.services._rows import insert_or, load
from paykit.services.reads import Page, check_page_limit, newest_first

__all__ = [
    "DiscountOut",
    "create_discount",
    "create_price",
    "create_product",
    "discounts_out",
    "list_discounts",
    "set_price_active",
    "update_discount",
    "update_product",
]


def _insert(session: Session, row: object, what: str, code: str) -> None:
    insert_or(session, row, Conflict(f"{what} already exists", code=code))


@checked
def create_product(
    session: Session,
    *,
    actor: Actor,
    data: ProductInput | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Product:
    """Create a product (DRAFT unless ``status`` says otherwise); a taken slug is a ``Conflict``."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    payload = parsed(ProductInput, data)
    currency = normalize_currency(payload.currency)
    product = Product(
        name=payload.name,
        description=payload.description,
        short_description=payload.short_description,
        slug=payload.slug,
        status=payload.status,
        type=payload.type,
        base_price=as_money(payload.base_price, currency, field="base_price"),
        currency=currency,
        tax_rate=payload.tax_rate,
        billing_interval=payload.billing_interval,
        track_inventory=payload.track_inventory,
        stock_quantity=payload.stock_quantity,
        published_at=now if payload.status is ProductStatus.PUBLISHED else None,
        deleted_at=now if payload.status is ProductStatus.DELETED else None,
        created_at=now,
        updated_at=now,
    )
    _insert(session, product, "product slug", "product_slug_taken")
    audit = Audit(session, now, actor.user_id, context)
    audit.record("product.created", "products", product.id, new=payload.model_dump(mode="json"))
    return product


@checked
def update_product(
    session: Session,
    *,
    actor: Actor,
    product_id: str,
    changes: ProductUpdate | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Product:
    """Change the given product fields; publishing sets ``published_at`` the first time."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    payload = parsed(ProductUpdate, changes)
    product = load(session, Product, product_id, "product")
    values = {name: getattr(payload, name) for name in payload.model_fields_set}
    if values.get("base_price") is not None:
        values["base_price"] = as_money(values["base_price"], product.currency, field="base_price")
    # Required columns: None means "leave alone".
    old, new = apply_changes(
        product, values, keep_on_none=lambda name: name not in ("short_description", "tax_rate")
    )
    if product.status is ProductStatus.PUBLISHED and product.published_at is None:
        product.published_at = now
    # DELETED is the seed's soft delete: deleted_at says when, and leaving DELETED undoes it.
    if (product.status is ProductStatus.DELETED) != (product.deleted_at is not None):
        deleted_at = now if product.status is ProductStatus.DELETED else None
        old["deleted_at"], new["deleted_at"] = product.deleted_at, deleted_at
        product.deleted_at = deleted_at
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(product, old, new, action="product.updated", resource="products")
    return product


@checked
def create_price(
    session: Session,
    *,
    actor: Actor,
    product_id: str,
    data: PriceInput | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Price:
    """Add a price to a product; a taken ``stripe_price_id`` is a ``Conflict``."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRICES)
    payload = parsed(PriceInput, data)
    load(session, Product, product_id, "product")
    currency = normalize_currency(payload.currency)
    price = Price(
        product_id=product_id,
        stripe_price_id=payload.stripe_price_id,
        nickname=payload.nickname,
        unit_amount=as_money(payload.unit_amount, currency, field="unit_amount"),
        currency=currency,
        type=payload.type,
        recurring=(
            {"interval": payload.interval, "interval_count": payload.interval_count}
            if payload.type is PriceType.RECURRING
            else None
        ),
        active=True,
        created_at=now,
        updated_at=now,
    )
    _insert(session, price, "stripe price id", "stripe_price_id_taken")
    new = {**payload.model_dump(mode="json"), "product_id": product_id}
    Audit(session, now, actor.user_id, context).record("price.created", "prices", price.id, new=new)
    return price


@checked
def set_price_active(
    session: Session,
    *,
    actor: Actor,
    price_id: str,
    active: bool,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Price:
    """Activate or retire a price (prices are never deleted: orders refer to them)."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRICES)
    price = load(session, Price, price_id, "price")
    old, new = apply_changes(price, {"active": active}, keep_on_none=lambda name: True)
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(price, old, new, action="price.updated", resource="prices")
    return price


@checked
def create_discount(
    session: Session,
    *,
    actor: Actor,
    data: DiscountInput | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Discount:
    """Create a discount code, optionally limited to ``product_ids``; a taken code is a
    ``Conflict``."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_DISCOUNTS)
    payload = parsed(DiscountInput, data)
    currency = normalize_currency(payload.currency) if payload.currency else None
    fixed = payload.type is DiscountType.FIXED_AMOUNT
    if fixed and currency is None:
        raise ValidationError("a fixed-amount discount needs a currency", code="currency_required")
    products = set(payload.product_ids)
    if products:
        found = set(session.scalars(sa.select(Product.id).where(Product.id.in_(products))))
        if found != products:
            raise NotFound("unknown product ids", details={"product_ids": sorted(products - found)})
    discount = Discount(
        code=payload.code,
        name=payload.name,
        description=payload.description,
        type=payload.type,
        value=as_money(payload.value, currency, field="value")
        if fixed and currency
        else payload.value,
        currency=currency,
        max_uses=payload.max_uses,
        max_uses_per_customer=payload.max_uses_per_customer,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        minimum_amount=(
            as_money(payload.minimum_amount, currency or "USD", field="minimum_amount")
            if payload.minimum_amount is not None
            else None
        ),
        first_time_only=payload.first_time_only,
        active=payload.active,
        created_at=now,
        updated_at=now,
    )
    _insert(session, discount, "discount code", "discount_code_taken")
    for product_id in sorted(products):
        session.add(ProductDiscount(product_id=product_id, discount_id=discount.id, created_at=now))
    audit = Audit(session, now, actor.user_id, context)
    audit.record("discount.created", "discounts", discount.id, new=payload.model_dump(mode="json"))
    return discount


@checked
def update_discount(
    session: Session,
    *,
    actor: Actor,
    discount_id: str,
    changes: DiscountUpdate | Mapping[str, Any],
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Discount:
    """Change a discount's name, description, ``active`` flag, ``max_uses`` or ``valid_until``.

    ``max_uses`` cannot drop below the uses already counted.
    """
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_DISCOUNTS)
    payload = parsed(DiscountUpdate, changes)
    discount = load(session, Discount, discount_id, "discount", populate_existing=True)
    # Every refusal before the first change: a refused call leaves nothing dirty.
    max_uses = payload.max_uses if "max_uses" in payload.model_fields_set else None
    if max_uses is not None and max_uses < discount.current_uses:
        raise ValidationError(
            f"max_uses {max_uses} is below the {discount.current_uses} uses already made",
            code="max_uses_below_current",
        )
    until = payload.valid_until if "valid_until" in payload.model_fields_set else None
    if until is not None and discount.valid_from is not None and until <= discount.valid_from:
        raise ValidationError(
            "valid_until must be after the code's valid_from",
            errors=[{"loc": ["valid_until"], "msg": "not after valid_from", "type": "value_error"}],
            details={"valid_from": discount.valid_from.isoformat()},
        )
    values = {name: getattr(payload, name) for name in payload.model_fields_set}
    old, new = apply_changes(discount, values, keep_on_none=lambda name: name in ("name", "active"))
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(discount, old, new, action="discount.updated", resource="discounts")
    return discount


class DiscountOut(pydantic.BaseModel):
    """A discount code as an admin sees it (``list_discounts``, the admin routes).

    ``value`` is a percentage (``"12.5"``) or an amount in ``currency``
    (``"5.00"``), as text, as is ``minimum_amount``; ``product_ids`` are the
    products it is limited to (empty: every product); ``current_uses`` counts
    the uses held by live orders and subscriptions.
    """

    model_config = pydantic.ConfigDict(frozen=True)

    id: str
    code: str
    name: str
    description: str | None
    type: str
    value: str
    currency: str | None
    minimum_amount: str | None
    max_uses: int | None
    max_uses_per_customer: int | None
    current_uses: int
    first_time_only: bool
    active: bool
    valid_from: datetime | None
    valid_until: datetime | None
    product_ids: list[str]
    created_at: datetime
    updated_at: datetime


def _value_text(discount: Discount) -> str:
    if discount.type is DiscountType.FIXED_AMOUNT and discount.currency is not None:
        return str(quantize(discount.value, discount.currency))
    return f"{discount.value.normalize():f}"  # a percentage: "10", "12.5"


def discounts_out(session: Session, rows: Sequence[Discount]) -> list[DiscountOut]:
    """``rows`` as :class:`DiscountOut`, their products read in one query."""
    limited: dict[str, list[str]] = {row.id: [] for row in rows}
    if limited:
        links = session.execute(
            sa.select(ProductDiscount.discount_id, ProductDiscount.product_id)
            .where(ProductDiscount.discount_id.in_(limited))
            .order_by(ProductDiscount.product_id)
        )
        for discount_id, product_id in links:
            limited[discount_id].append(product_id)
    return [
        DiscountOut(
            id=row.id,
            code=row.code,
            name=row.name,
            description=row.description,
            type=row.type.value,
            value=_value_text(row),
            currency=row.currency,
            minimum_amount=(
                None
                if row.minimum_amount is None
                else str(quantize(row.minimum_amount, row.currency or "USD"))
            ),
            max_uses=row.max_uses,
            max_uses_per_customer=row.max_uses_per_customer,
            current_uses=row.current_uses,
            first_time_only=row.first_time_only,
            active=row.active,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            product_ids=limited[row.id],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


@checked
def list_discounts(
    session: Session,
    *,
    actor: Actor,
    active: bool | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[DiscountOut]:
    """Discount codes newest first, one keyset page at a time; ADMIN only.

    ``active`` keeps only the active (or, ``False``, the retired) codes.
    ``limit`` 1..100 (``invalid_limit``); ``cursor`` is the previous page's
    ``next_cursor`` for the same filter (``invalid_cursor``).
    """
    authorize(session, actor, Action.MANAGE_DISCOUNTS)
    check_page_limit(limit)
    query = sa.select(Discount)
    if active is not None:
        query = query.where(Discount.active.is_(active))
    scope = {"discounts": actor.user_id, "active": active}
    rows, next_cursor = newest_first(
        session, query, Discount, scope=scope, cursor=cursor, limit=limit
    )
    return Page[DiscountOut](items=discounts_out(session, rows), next_cursor=next_cursor)
