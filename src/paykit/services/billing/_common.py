"""What the billing services share: the billing gateway, owned rows, card expiry, keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from paykit.errors import ConfigurationError, InvalidState, NotFound
from paykit.gateways.base import PaymentGateway
from paykit.gateways.billing import BillingMethodsGateway
from paykit.models import User
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner
from paykit.services.subscriptions._common import gateway_key, missing_method, owners_method
from paykit.services.subscriptions.customers import active_user

__all__ = [
    "billing_gateway",
    "card_expires_at",
    "gateway_key",
    "missing_method",
    "owned_user",
    "owners_method",
    "require_owner",
]


def billing_gateway(gateway: PaymentGateway) -> BillingMethodsGateway:
    """``gateway`` as a :class:`BillingMethodsGateway`, or ``ConfigurationError``."""
    if not isinstance(gateway, BillingMethodsGateway):
        raise ConfigurationError(
            f"{type(gateway).__name__} does not implement BillingMethodsGateway "
            "(saved cards, invoices, checkout)",
            code="configuration_error",
        )
    return gateway


def require_owner(
    session: Session, actor: Actor | None, *, owner_id: str, missing: NotFound
) -> str | None:
    """The acting user's id, if they own the row or hold ``billing.manage_any``.

    Anyone else gets ``missing`` (the row's id is not confirmed); without an
    actor the host acts on its own authority.
    """
    acting = acting_user_id(actor, None)
    authorize_owner(
        session, acting, owner_id=owner_id, action=Action.MANAGE_ANY_BILLING, missing=missing
    )
    return acting


def owned_user(session: Session, user_id: str, actor: Actor | None) -> tuple[User, str | None]:
    """The active user ``user_id``, if the actor may act on their billing."""
    missing = NotFound(f"user {user_id} not found", details={"user_id": user_id})
    acting = require_owner(session, actor, owner_id=user_id, missing=missing)
    return active_user(session, user_id), acting


def gateway_customer(user: User) -> str:
    """The user's gateway customer id; a user who never paid has none (``InvalidState``)."""
    if not user.stripe_customer_id:
        raise InvalidState(
            f"user {user.id} has no gateway customer yet",
            code="invalid_state",
            details={"user_id": user.id},
        )
    return user.stripe_customer_id


def card_expires_at(card: Mapping[str, Any] | None) -> datetime | None:
    """The first instant after a card's expiry month (UTC), or ``None`` without a valid expiry.

    A card is valid through the last day of its expiry month.
    """
    if not isinstance(card, Mapping):
        return None
    month, year = card.get("exp_month"), card.get("exp_year")
    if isinstance(month, bool) or isinstance(year, bool):
        return None
    try:
        month_i, year_i = int(month), int(year)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not 1 <= month_i <= 12 or not 1970 <= year_i <= 9998:
        return None
    if month_i == 12:
        return datetime(year_i + 1, 1, 1, tzinfo=UTC)
    return datetime(year_i, month_i + 1, 1, tzinfo=UTC)
