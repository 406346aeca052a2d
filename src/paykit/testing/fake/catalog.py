"""``FakeGateway``: Products, prices and coupons."""

from __future__ import annotations

import copy
from typing import Any, Final

from paykit.errors import (
    GatewayInvalidRequest,
    ValidationError,
)
from paykit.gateways._checks import (
    check_amount,
    check_count,
    check_currency,
)
from paykit.gateways.base import (
    GatewayPrice,
    GatewayProduct,
)
from paykit.testing.fake.ledger import FakeLedger, _ts

_INTERVALS: Final = frozenset({"day", "week", "month", "year"})


class FakeCatalog(FakeLedger):
    """Products, prices and coupons."""

    def add_product(
        self, *, name: str, product_id: str | None = None, description: str | None = None
    ) -> str:
        """Add a product to the catalogue; returns its id (``prod_fake_...`` unless given)."""
        with self._lock:
            return self._add_product(name=name, product_id=product_id, description=description)

    def add_price(
        self,
        *,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        product_id: str | None = None,
        price_id: str | None = None,
        nickname: str | None = None,
    ) -> str:
        """Add a price (recurring unless ``interval`` is ``None``); returns its id.

        Without ``product_id`` a product is created for it.
        """
        check_amount(unit_amount, "unit_amount", minimum=0)
        lower_currency = check_currency(currency).lower()
        if interval is not None and interval not in _INTERVALS:
            raise ValidationError(f"interval must be one of {sorted(_INTERVALS)} or None")
        check_count(interval_count, "interval_count")
        with self._lock:
            if product_id is None:
                product_id = self._add_product(name=nickname or "Fake product")
            product = self._product(product_id)
            new_id = price_id or self._next_id("price")
            if new_id in self._prices:
                raise ValidationError(f"price {new_id} already exists")
            recurring = (
                None
                if interval is None
                else {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "usage_type": "licensed",
                    "trial_period_days": None,
                }
            )
            self._prices[new_id] = {
                "id": new_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": _ts(self._now()),
                "currency": lower_currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": nickname,
                "product": product_id,
                "recurring": recurring,
                "tax_behavior": "unspecified",
                "type": "one_time" if recurring is None else "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
            if product["default_price"] is None:
                product["default_price"] = new_id
            return new_id

    def add_coupon(
        self,
        *,
        coupon_id: str | None = None,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration: str = "once",
        duration_in_months: int | None = None,
    ) -> str:
        """Add a coupon (exactly one of ``percent_off`` / ``amount_off``); returns its id."""
        if (percent_off is None) == (amount_off is None):
            raise ValidationError("give exactly one of percent_off and amount_off")
        if amount_off is not None:
            check_amount(amount_off, "amount_off")
            if currency is None:
                raise ValidationError("amount_off needs a currency")
        if duration not in {"once", "repeating", "forever"}:
            raise ValidationError("duration must be once, repeating or forever")
        with self._lock:
            new_id = coupon_id or self._next_id("coupon")
            self._coupons[new_id] = {
                "id": new_id,
                "object": "coupon",
                "amount_off": amount_off,
                "created": _ts(self._now()),
                "currency": None if currency is None else check_currency(currency).lower(),
                "duration": duration,
                "duration_in_months": duration_in_months,
                "livemode": False,
                "max_redemptions": None,
                "metadata": {},
                "name": None,
                "percent_off": percent_off,
                "redeem_by": None,
                "times_redeemed": 0,
                "valid": True,
            }
            return new_id

    def retrieve_price(self, price_id: str) -> GatewayPrice:
        """The price; its Stripe-shaped record (a copy) is in ``raw``."""
        from paykit.stripe.objects import price_from_stripe

        self._enter("retrieve_price", price_id=price_id)
        with self._lock:
            return price_from_stripe(copy.deepcopy(self._price(price_id)))

    def retrieve_product(self, product_id: str) -> GatewayProduct:
        """The product; its Stripe-shaped record (a copy) is in ``raw``."""
        from paykit.stripe.objects import product_from_stripe

        self._enter("retrieve_product", product_id=product_id)
        with self._lock:
            return product_from_stripe(copy.deepcopy(self._product(product_id)))

    def _add_product(
        self, *, name: str, product_id: str | None = None, description: str | None = None
    ) -> str:
        new_id = product_id or self._next_id("prod")
        if new_id in self._products:
            raise ValidationError(f"product {new_id} already exists")
        now = _ts(self._now())
        self._products[new_id] = {
            "id": new_id,
            "object": "product",
            "active": True,
            "created": now,
            "default_price": None,
            "description": description,
            "images": [],
            "livemode": False,
            "marketing_features": [],
            "metadata": {},
            "name": name,
            "updated": now,
            "url": None,
        }
        return new_id

    def _product(self, product_id: str) -> dict[str, Any]:
        return self._find(self._products, "product", product_id)

    def _price(self, price_id: str) -> dict[str, Any]:
        return self._find(self._prices, "price", price_id)

    def _recurring_price(self, price_id: str) -> dict[str, Any]:
        price = self._price(price_id)
        if price["recurring"] is None:
            raise GatewayInvalidRequest(
                f"Price {price_id} is not recurring; a subscription needs a recurring price.",
                code="price_not_recurring",
                details={"price_id": price_id},
            )
        return price

    def _coupon(self, coupon_id: str) -> dict[str, Any]:
        return self._find(self._coupons, "coupon", coupon_id)
