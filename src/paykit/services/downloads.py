"""Signed, expiring download links for paid digital items, and their redemption.

A link is a bearer token: ``<order_item_id>.<expires_unix>.<key_id>.<signature>``,
the signature an HMAC-SHA256 over the first three parts with a key derived
(HKDF-SHA256, ``info=b"paykit download link v1"``) from the keyring's key
``key_id``, so links survive key rotation as long as the old key stays in the
keyring, and a key that encrypts personal data never signs anything directly.

Redeeming a link checks, in this order: the signature (``download_link_invalid``),
its expiry (``download_link_expired``), that the order is still paid and not
fully refunded (``download_refunded``, ``download_not_paid``), the item's
access expiry (``download_access_expired``) and the product's download limit
(``download_limit_reached``). The limit is counted by one conditional
``UPDATE ... SET download_count = download_count + 1 WHERE download_count < limit``,
so parallel redemptions never exceed it. A partial refund leaves the links
working (paykit refunds amounts, not items); a full refund stops them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.errors import InvalidState, PaykitError, PermissionDenied, ValidationError
from paykit.models import Order, OrderItem, OrderStatus, Product
from paykit.security.encryption import Keyring, require_keyring
from paykit.security.policy import Action, Actor
from paykit.services._rows import found, owner_or_may
from paykit.services.reads import active_actor

__all__ = ["DEFAULT_LINK_TTL", "DownloadGrant", "DownloadLink", "download_link", "redeem_download"]

#: How long a link works unless the caller says otherwise (the template's API: 24 hours).
DEFAULT_LINK_TTL = timedelta(hours=24)
_INFO = b"paykit download link v1"
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class DownloadLink:
    """A link's token (put it in a URL of the host's) and when it stops working."""

    token: str
    order_item_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class DownloadGrant:
    """A redeemed link: where the file is, and how many downloads are left (None: no limit)."""

    url: str
    order_item_id: str
    product_id: str
    download_count: int
    downloads_left: int | None


def _signing_key(keyring: Keyring, key_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        keyring.key(key_id)
    )


def _signature(keyring: Keyring, key_id: str, body: str) -> str:
    mac = hmac.new(_signing_key(keyring, key_id), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _denied(message: str, code: str, item_id: str | None = None) -> PermissionDenied:
    return PermissionDenied(message, code=code, details={"order_item_id": item_id})


def _limit(product: Product) -> int | None:
    limit = product.download_limit
    return None if limit is None or limit < 0 else limit


def _check_access(order: Order, item: OrderItem, product: Product, now: datetime) -> None:
    """Everything but the signature and the count: paid, not refunded, in time, a file."""
    if product.download_url is None:
        raise ValidationError(
            "this product has no file to download",
            code="not_downloadable",
            details={"product_id": product.id},
        )
    fully_refunded = order.status is OrderStatus.REFUNDED or (
        order.total_amount > 0 and order.refunded_amount >= order.total_amount
    )
    if fully_refunded:
        raise _denied("the order was refunded", "download_refunded", item.id)
    if order.status is not OrderStatus.COMPLETED:
        raise InvalidState(
            "the order is not paid", code="download_not_paid", details={"order_id": order.id}
        )
    if item.access_expires_at is not None and now >= item.access_expires_at:
        raise _denied("access to this download has expired", "download_access_expired", item.id)


def _load(session: Session, item_id: str) -> tuple[OrderItem, Order, Product] | None:
    row = session.execute(
        sa.select(OrderItem, Order, Product)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(OrderItem.id == item_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


@checked
def download_link(
    session: Session,
    *,
    actor: Actor,
    order_item_id: str,
    ttl: timedelta = DEFAULT_LINK_TTL,
    clock: Clock | None = None,
) -> DownloadLink:
    """A signed link to the file of a paid digital item the actor bought.

    Another customer's item is ``NotFound``; staff (``order.read_any``) may make
    links for any item (support re-sending a purchase). Refused up front when
    the link could not be redeemed now (the same codes as :func:`redeem_download`,
    and ``download_limit_reached`` when the limit is used up).
    """
    now = resolve_clock(clock).now()
    user = active_actor(session, actor, refusal="downloads need an active user")
    item, order, product = found(
        _load(session, order_item_id),
        "order item",
        order_item_id,
        visible=lambda row: owner_or_may(user, row[1].user_id, Action.READ_ANY_ORDER),
        key="id",
    )
    _check_access(order, item, product, now)
    limit = _limit(product)
    if limit is not None and item.download_count >= limit:
        raise _denied("the download limit is used up", "download_limit_reached", item.id)
    keyring = require_keyring()
    expires = int((now + ttl).timestamp())
    body = f"{item.id}.{expires}.{keyring.active_key_id}"
    return DownloadLink(
        token=f"{body}.{_signature(keyring, keyring.active_key_id, body)}",
        order_item_id=item.id,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def _verify(token: str, now: datetime) -> str:
    """The order item a genuine, unexpired token names."""
    invalid = _denied("the download link is invalid", "download_link_invalid")
    if len(token) > _MAX_TOKEN:
        raise invalid
    parts = token.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        raise invalid
    item_id, expires, key_id, signature = parts
    keyring = require_keyring()
    try:
        expected = _signature(keyring, key_id, f"{item_id}.{expires}.{key_id}")
    except PaykitError:  # a key this keyring does not hold
        raise invalid from None
    if not hmac.compare_digest(expected, signature):
        raise invalid
    if now.timestamp() >= int(expires):
        raise _denied("the download link has expired", "download_link_expired", item_id)
    return item_id


_COUNT = (
    sa.update(OrderItem)
    .where(
        OrderItem.id == sa.bindparam("item_id"),
        sa.or_(
            sa.bindparam("limit", type_=sa.Integer()).is_(None),
            OrderItem.download_count < sa.bindparam("limit", type_=sa.Integer()),
        ),
    )
    .values(download_count=OrderItem.download_count + 1)
    .returning(OrderItem.download_count)
)


@checked
def redeem_download(session: Session, *, token: str, clock: Clock | None = None) -> DownloadGrant:
    """Check a link and count one download; returns where the file is.

    The count is taken atomically (see the module), so a limit of 3 gives at
    most 3 grants whatever the parallelism. A failed check counts nothing.
    """
    now = resolve_clock(clock).now()
    item_id = _verify(token, now)
    row = _load(session, item_id)
    if row is None:
        raise _denied("the download link is invalid", "download_link_invalid", item_id)
    item, order, product = row
    _check_access(order, item, product, now)
    limit = _limit(product)
    count = session.execute(_COUNT, {"item_id": item.id, "limit": limit}).scalar()
    if count is None:
        raise _denied("the download limit is used up", "download_limit_reached", item.id)
    session.expire(item, ["download_count"])
    assert product.download_url is not None  # checked by _check_access
    return DownloadGrant(
        url=product.download_url,
        order_item_id=item.id,
        product_id=product.id,
        download_count=count,
        downloads_left=None if limit is None else limit - count,
    )
