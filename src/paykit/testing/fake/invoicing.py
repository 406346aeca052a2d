"""``FakeGateway``: the billing engine -- renewal invoices, prorations, balance, test clock.

What Stripe's billing engine does when time passes, done whenever the fake
looks at a subscription (every call that reads or changes one) and for all of
them at once by :meth:`FakeInvoicing.advance_clock` (Stripe's test clocks):

* at each period end that has passed: the period moves on
  (``customer.subscription.updated``) and a renewal invoice is issued, one line
  per item (price x quantity, for the new period) plus the prorations pending
  from changes, less the subscription's discount, less the customer's credit
  balance (``invoice.created``, ``invoice.finalized``);
* the invoice is paid with the subscription's ``default_payment_method``, else
  the customer's default (``invoice.paid``, ``invoice.payment_succeeded``), or
  the attempt fails (``invoice.payment_failed``; the subscription goes
  ``past_due``). Paying the open invoice later (``pay_invoice``) makes the
  subscription ``active`` again;
* a trial that ends converts with the same first invoice; a trial without any
  payment method follows ``trial_settings.end_behavior.missing_payment_method``
  (``create_invoice``, Stripe's default; ``pause``; ``cancel``);
* a change prorated with ``create_prorations`` adds a credit and a charge for
  the rest of the period to the pending items; ``always_invoice`` invoices them
  (and any pending before) at once. Amounts are counted in whole seconds and
  each line is rounded on its own, half away from zero, as Stripe does.

Every event of one period end carries that moment as its ``created`` time.
Invoices are not PaymentIntents here: renewal charges are not ``charges`` entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import cached_property
from typing import Any

from paykit.clock import ensure_utc
from paykit.errors import ValidationError
from paykit.gateways.billing import GatewayInvoiceDetails
from paykit.pricing.proration import _add_months
from paykit.stripe.billing_methods import invoice_details_from_stripe
from paykit.testing.fake.billing import FakeBilling
from paykit.testing.fake.cards import _DECLINES, _NEEDS_ACTION
from paykit.testing.fake.ledger import _Subscription, _ts
from paykit.testing.fake.subscriptions import _RENEWING

__all__ = ["FakeInvoicing"]


def half_up(value: Fraction) -> int:
    """``value`` rounded to an integer, halves away from zero."""
    magnitude = abs(value)
    whole = magnitude.numerator // magnitude.denominator
    if 2 * (magnitude - whole) >= 1:
        whole += 1
    return whole if value >= 0 else -whole


@dataclass(slots=True)
class _EngineState:
    # subscription id -> invoice items waiting for its next invoice (Stripe's pending items)
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # customer id -> balance in minor units; negative is a credit, as at Stripe
    balances: dict[str, int] = field(default_factory=dict)
    # discount id -> invoices it was applied to
    discount_uses: dict[str, int] = field(default_factory=dict)


class FakeInvoicing(FakeBilling):
    """Renewal invoices, prorations, payment attempts and the test clock."""

    @cached_property
    def _engine(self) -> _EngineState:
        return _EngineState()

    # ----------------------------------------------------------------- test-side

    def advance_clock(self, frozen_time: datetime | None = None) -> list[GatewayInvoiceDetails]:
        """Test helper, as Stripe's test clock ``advance``: bill everything due by then.

        ``frozen_time`` moves the fake's clock first (it must be settable, e.g.
        :class:`~paykit.clock.FrozenClock`, and may not go back); without it,
        the clock's now is used. Every subscription is brought up to that time:
        renewals invoiced and charged, trials ended, pending cancellations made,
        with their events. Returns the invoices issued, oldest first.
        """
        with self._lock:
            if frozen_time is not None:
                if not isinstance(frozen_time, datetime):
                    raise ValidationError(
                        "frozen_time must be a datetime", details={"param": "frozen_time"}
                    )
                target = ensure_utc(frozen_time)
                setter = getattr(self._clock, "set", None)
                if setter is None:
                    raise ValidationError(
                        "advance_clock(frozen_time) needs a clock with set(), e.g. FrozenClock",
                        details={"param": "frozen_time"},
                    )
                if target < self._now():
                    raise ValidationError(
                        "a test clock only moves forward", details={"param": "frozen_time"}
                    )
                setter(target)
            before = set(self._billing.invoices)
            for sub in list(self._subscriptions.values()):
                self._roll_forward(sub)
            return [
                invoice_details_from_stripe(raw)
                for invoice_id, raw in self._billing.invoices.items()
                if invoice_id not in before
            ]

    def customer_balance(self, customer_id: str) -> int:
        """Test-side: the customer's balance, minor units (negative: credit for later invoices)."""
        with self._lock:
            self._customer(customer_id)
            return self._engine.balances.get(customer_id, 0)

    def pending_invoice_items(self, subscription_id: str) -> list[dict[str, Any]]:
        """Test-side: the prorations waiting for the subscription's next invoice (copies)."""
        with self._lock:
            self._subscription(subscription_id)
            return [dict(item) for item in self._engine.pending.get(subscription_id, [])]

    # ----------------------------------------------------------------- time passing

    @contextlib.contextmanager
    def _stamped(self, moment: int) -> Iterator[None]:
        previous = self.__dict__.get("_event_time")
        self.__dict__["_event_time"] = datetime.fromtimestamp(moment, tz=self._now().tzinfo)
        try:
            yield
        finally:
            self.__dict__["_event_time"] = previous

    def _roll_forward(self, sub: _Subscription) -> None:
        raw = sub.raw
        if raw["status"] == "incomplete":
            super()._roll_forward(sub)
            return
        first = raw["items"]["data"][0]
        now = _ts(self._now())
        while raw["status"] in _RENEWING and now >= first["current_period_end"]:
            boundary = first["current_period_end"]
            with self._stamped(boundary):
                if raw["cancel_at_period_end"]:
                    raw.update(status="canceled", ended_at=boundary)
                    self._emit_subscription(sub, True)
                    return
                previous = (first["current_period_start"], boundary)
                if raw["status"] == "trialing":
                    if not self._trial_converts(sub, boundary):
                        return
                    raw["status"] = "active"
                    sub.period_index = 0
                else:
                    sub.period_index += 1
                self._set_period(sub)
                self._emit_subscription(sub)
                self._bill(sub, self._period_lines(sub), "subscription_cycle", previous)

    def _trial_converts(self, sub: _Subscription, boundary: int) -> bool:
        """False if the trial ends without a payment method and cancels or pauses."""
        raw = sub.raw
        if self._payer(sub) is not None:
            return True
        settings = (raw.get("trial_settings") or {}).get("end_behavior") or {}
        behavior = settings.get("missing_payment_method") or "create_invoice"
        if behavior == "cancel":
            raw.update(status="canceled", ended_at=boundary, canceled_at=boundary)
            raw["cancellation_details"] = {
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested",
            }
            self._emit_subscription(sub, True)
            return False
        if behavior == "pause":
            raw["status"] = "paused"
            self._emit_subscription(sub)
            return False
        return True

    def _invoice_new_period(self, sub: _Subscription) -> None:
        """A paused subscription resumed: its new period is invoiced at once."""
        first = sub.raw["items"]["data"][0]
        start = first["current_period_start"]
        self._bill(sub, self._period_lines(sub), "subscription_update", (start, start))

    # ----------------------------------------------------------------- lines

    def _period_lines(self, sub: _Subscription) -> list[dict[str, Any]]:
        lines = []
        for item in sub.raw["items"]["data"]:
            price = item["price"]
            quantity = int(item["quantity"])
            lines.append(
                {
                    "amount": int(price["unit_amount"]) * quantity,
                    "description": f"{quantity} \N{MULTIPLICATION SIGN} {price['id']}",
                    "quantity": quantity,
                    "price": price["id"],
                    "proration": False,
                    "period_start": item["current_period_start"],
                    "period_end": item["current_period_end"],
                }
            )
        return lines

    def _prorate(
        self,
        sub: _Subscription,
        item: dict[str, Any],
        new_price: dict[str, Any],
        new_quantity: int,
        *,
        behavior: str,
        at: datetime,
    ) -> None:
        """Pending credit and charge for an item's change (called before the item changes)."""
        old_amount = int(item["price"]["unit_amount"]) * int(item["quantity"])
        new_amount = int(new_price["unit_amount"]) * new_quantity
        same = new_price["id"] == item["price"]["id"] and new_quantity == item["quantity"]
        if behavior == "none" or sub.raw["status"] == "trialing" or same:
            return
        start, end = int(item["current_period_start"]), int(item["current_period_end"])
        moment = min(max(_ts(at), start), end)
        left = Fraction(end - moment, end - start)
        pending = self._engine.pending.setdefault(sub.raw["id"], [])
        for amount, price, quantity, word in (
            (-half_up(old_amount * left), item["price"], int(item["quantity"]), "Unused"),
            (half_up(new_amount * left), new_price, new_quantity, "Remaining"),
        ):
            if amount:
                pending.append(
                    {
                        "amount": amount,
                        "description": f"{word} time on {quantity} \N{MULTIPLICATION SIGN} "
                        f"{price['id']}",
                        "quantity": quantity,
                        "price": price["id"],
                        "proration": True,
                        "period_start": moment,
                        "period_end": end,
                    }
                )
        if behavior == "always_invoice":
            self._bill(sub, [], "subscription_update", (moment, end))

    # ----------------------------------------------------------------- invoices

    def _payer(self, sub: _Subscription) -> str | None:
        """The subscription's default payment method, else the customer's."""
        own = sub.raw.get("default_payment_method")
        return own or self._default_method.get(str(sub.raw["customer"]))

    def _discount(
        self, sub: _Subscription, subtotal: int, at: int, *, count: bool = True
    ) -> tuple[int, str | None]:
        for discount in sub.raw.get("discounts") or []:
            coupon = self._coupons.get(discount["source"]["coupon"])
            if coupon is None or not self._discount_applies(discount, coupon, at):
                continue
            if coupon.get("percent_off") is not None:
                amount = half_up(subtotal * Fraction(str(coupon["percent_off"])) / 100)
            else:
                amount = int(coupon["amount_off"])
            if count:
                uses = self._engine.discount_uses
                uses[discount["id"]] = uses.get(discount["id"], 0) + 1
            return max(0, min(amount, subtotal)), str(discount["id"])
        return 0, None

    def _discount_applies(self, discount: dict[str, Any], coupon: dict[str, Any], at: int) -> bool:
        duration = coupon.get("duration")
        if duration == "once":
            return self._engine.discount_uses.get(discount["id"], 0) == 0
        if duration == "repeating":
            start = datetime.fromtimestamp(int(discount["start"]), tz=self._now().tzinfo)
            return at < _ts(_add_months(start, int(coupon.get("duration_in_months") or 0)))
        return True

    def _bill(
        self, sub: _Subscription, lines: list[dict[str, Any]], reason: str, period: tuple[int, int]
    ) -> dict[str, Any]:
        """Issue, finalize and try to pay one invoice of ``sub``; emits what Stripe would."""
        now = _ts(self.__dict__.get("_event_time") or self._now())
        items = lines + self._engine.pending.pop(str(sub.raw["id"]), [])
        raw = self._invoice_raw(sub, items, reason, period, now, invoice_id=self._next_id("in"))
        customer = str(sub.raw["customer"])
        self._engine.balances[customer] = int(raw["ending_balance"])
        self._billing.invoices[raw["id"]] = raw
        sub.raw["latest_invoice"] = raw["id"]
        self._emit("invoice.created", raw)
        raw.update(status="open", number=self._invoice_number(raw["id"]))
        raw["status_transitions"] = {**raw["status_transitions"], "finalized_at": now}
        self._emit("invoice.finalized", raw)
        self._collect(sub, raw, now)
        return raw

    def _invoice_raw(
        self,
        sub: _Subscription,
        items: list[dict[str, Any]],
        reason: str,
        period: tuple[int, int],
        now: int,
        *,
        invoice_id: str,
        preview: bool = False,
    ) -> dict[str, Any]:
        """A draft invoice of ``sub`` with ``items``, its discount and the customer's balance."""
        customer, currency = str(sub.raw["customer"]), str(sub.raw["currency"])
        data, subtotal = self._lines(invoice_id, items, currency, now)
        discount, discount_id = self._discount(sub, subtotal, now, count=not preview)
        total = subtotal - discount
        starting = self._engine.balances.get(customer, 0)
        return self._invoice_object(
            invoice_id,
            customer=customer,
            subscription=sub.raw["id"],
            status="draft",
            currency=currency,
            lines=data,
            subtotal=subtotal,
            total=total,
            discounts=[{"amount": discount, "discount": discount_id}] if discount else [],
            amount_due=max(total + starting, 0),
            created=now,
            period=period,
            finalized_at=None,
            hosted=not preview,
            number=None,
            billing_reason=reason,
            tax=0,
            starting_balance=starting,
            ending_balance=min(total + starting, 0),
            attempted=False,
            next_payment_attempt=None,
        )

    def _collect(self, sub: _Subscription, raw: dict[str, Any], now: int) -> None:
        """The automatic payment attempt of a just-finalized invoice."""
        method = self._payer(sub)
        if raw["amount_due"] == 0:
            self._mark_paid(raw, None, now)
            return
        token = None
        if method is not None:
            with contextlib.suppress(Exception):
                token = self._usable_method(method, str(raw["customer"]))
        raw["attempt_count"] = 1
        raw["attempted"] = True
        if token is None or token in _DECLINES or token in _NEEDS_ACTION:
            self._emit("invoice.payment_failed", raw)
            if sub.raw["status"] in ("active", "trialing"):
                sub.raw["status"] = "past_due"
                self._emit_subscription(sub)
            return
        self._mark_paid(raw, method, now)

    def _mark_paid(self, raw: dict[str, Any], method: str | None, now: int) -> None:
        self._record_paid(raw, method, now)
        self._emit("invoice.payment_succeeded", raw)

    def _after_invoice_paid(self, raw: dict[str, Any]) -> None:
        """A subscription whose open invoices are all paid now is ``active`` again."""
        sub = self._subscriptions.get(str(raw.get("subscription") or ""))
        if sub is None or sub.raw["status"] != "past_due":
            return
        still_open = any(
            other["status"] == "open" and other.get("subscription") == sub.raw["id"]
            for other in self._billing.invoices.values()
        )
        if not still_open:
            sub.raw["status"] = "active"
            self._emit_subscription(sub)
