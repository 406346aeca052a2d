"""``FakeGateway``: The fake's state, its idempotency and call log, ids, clock and lookups."""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar, cast

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.errors import (
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaykitError,
    ValidationError,
)
from paykit.gateways._checks import check_key
from paykit.gateways.base import (
    GatewayCustomer,
    GatewayPayment,
    GatewayPaymentMethod,
    GatewayRefund,
    GatewayRefundStatus,
    PaymentIntentStatus,
)
from paykit.testing._webhooks import stripe_event, stripe_object

_T = TypeVar("_T")
_V = TypeVar("_V")

_NAMESPACE: Final = re.compile(r"[A-Za-z0-9]{1,32}")
_MAX_LATENCY: Final = 60.0


class _AmbiguousTimeout(Exception):
    """The charge happened, but the caller must be told the request timed out."""

    def __init__(self, result: object) -> None:
        super().__init__("ambiguous timeout")
        self.result = result


@dataclass(slots=True)
class _IdempotencyRecord:
    operation: str
    params: dict[str, Any]
    result: object
    error: PaykitError | None


@dataclass(slots=True)
class _Subscription:
    raw: dict[str, Any]
    anchor: datetime
    interval: str
    interval_count: int
    # -1 while in the trial; n >= 0 is the n-th period after the anchor.
    period_index: int


# --------------------------------------------------------------------- validation


def _clone_error(error: PaykitError) -> PaykitError:
    # A replayed error is a fresh exception: re-raising one instance from
    # several threads would tangle their tracebacks.
    clone = copy.copy(error)
    clone.details = dict(error.details)
    clone.__traceback__ = None
    return clone


# --------------------------------------------------------------------- time


def _ts(value: datetime) -> int:
    return int(value.timestamp())


class FakeLedger:
    """The fake's state, its idempotency and call log, ids, clock and lookups."""

    @checked
    def __init__(
        self, *, clock: Clock | None = None, latency: float = 0.0, namespace: str | None = None
    ) -> None:
        if (
            isinstance(latency, bool)
            or not isinstance(latency, int | float)
            or not 0 <= latency <= _MAX_LATENCY
        ):
            raise ValidationError(f"latency must be 0 to {_MAX_LATENCY} seconds")
        if namespace is None:
            # Two fakes writing into one database need distinct ids (pi_<namespace>_000001),
            # also across processes: a counter would not do.
            namespace = f"fake{secrets.token_hex(5)}"
        elif not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ValidationError("namespace must be 1 to 32 ASCII letters and digits")
        self._namespace = namespace
        self._clock = resolve_clock(clock)
        self._latency = float(latency)
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._idempotency: dict[str, _IdempotencyRecord] = {}
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._customers: dict[str, GatewayCustomer] = {}
        self._default_method: dict[str, str] = {}
        self._payments: dict[str, GatewayPayment] = {}
        self._charge_ids: list[str] = []
        self._refunds: dict[str, GatewayRefund] = {}
        self._refund_plan: deque[tuple[GatewayRefundStatus, str | None]] = deque()
        self._methods: dict[str, GatewayPaymentMethod] = {}
        self._method_source: dict[str, str] = {}
        self._products: dict[str, dict[str, Any]] = {}
        self._prices: dict[str, dict[str, Any]] = {}
        self._coupons: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._events: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"FakeGateway(payments={len(self._payments)}, charges={len(self._charge_ids)}, "
                f"refunds={len(self._refunds)}, latency={self._latency})"
            )

    @property
    def payments(self) -> dict[str, GatewayPayment]:
        """Every payment by id, as it is now (a snapshot)."""
        with self._lock:
            return dict(self._payments)

    @property
    def charges(self) -> list[GatewayPayment]:
        """Payments that succeeded, in the order they were charged (a snapshot)."""
        with self._lock:
            return [self._payments[payment_id] for payment_id in self._charge_ids]

    @property
    def refunds(self) -> list[GatewayRefund]:
        """Every refund created, in order, as it is now (a snapshot)."""
        with self._lock:
            return list(self._refunds.values())

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every gateway call as ``(method name, keyword arguments)``, in order.

        Includes calls that failed or were replayed; test helpers are not recorded.
        """
        with self._lock:
            return [(name, dict(kwargs)) for name, kwargs in self._calls]

    @property
    def customers(self) -> dict[str, GatewayCustomer]:
        """Every customer by id (a snapshot)."""
        with self._lock:
            return dict(self._customers)

    @property
    def payment_methods(self) -> dict[str, GatewayPaymentMethod]:
        """Every payment method created by attaching, by id (a snapshot)."""
        with self._lock:
            return dict(self._methods)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The Stripe events a real account would have sent so far, oldest first (a copy).

        Built with :func:`paykit.testing.stripe_event`, ids ``evt_<namespace>_000001``, ...;
        see ``docs/testing.md`` for which calls emit which types.
        """
        with self._lock:
            return copy.deepcopy(self._events)

    def drain_events(self) -> list[dict[str, Any]]:
        """The events emitted since the last drain, oldest first; the fake then forgets them."""
        with self._lock:
            drained, self._events = self._events, []
            return drained

    def _emit(self, event_type: str, obj: Mapping[str, Any]) -> None:
        # Under the lock; stripe_event copies obj, so the event shows the state of now.
        # While the billing engine replays a period's end, events carry that moment.
        created = self.__dict__.get("_event_time") or self._now()
        self._events.append(
            stripe_event(event_type, object=obj, id=self._next_id("evt"), created=created)
        )

    def _emit_payment(self, event_type: str, payment: GatewayPayment) -> None:
        obj = stripe_object(
            "payment_intent",
            id=payment.id,
            amount=payment.amount_minor,
            amount_received=(
                payment.amount_minor if payment.status is PaymentIntentStatus.SUCCEEDED else 0
            ),
            currency=payment.currency.lower(),
            customer=payment.customer_id,
            payment_method=payment.payment_method_id,
            client_secret=payment.client_secret,
            created=_ts(payment.created) if payment.created is not None else _ts(self._now()),
            status=str(payment.status),
            last_payment_error=None,
        )
        obj["metadata"] = dict(payment.metadata)
        if payment.decline_code is not None:
            obj["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": payment.decline_code,
                "message": "Your card was declined.",
            }
        self._emit(event_type, obj)

    def _emit_refund(self, event_type: str, refund: GatewayRefund) -> None:
        obj = stripe_object(
            "refund",
            id=refund.id,
            amount=refund.amount_minor,
            currency=refund.currency.lower(),
            payment_intent=refund.payment_id,
            status=str(refund.status),
            reason=refund.reason,
            failure_reason=refund.failure_reason,
            created=_ts(self._now()),
        )
        obj["metadata"] = {}
        self._emit(event_type, obj)

    def _enter(self, operation: str, **kwargs: Any) -> None:
        recorded = {
            name: dict(value) if isinstance(value, Mapping) else value
            for name, value in kwargs.items()
        }
        with self._lock:
            self._calls.append((operation, recorded))
        if self._latency:
            # Outside the lock, so parallel callers wait side by side, as over a network.
            time.sleep(self._latency)

    def _begin(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Record a call that takes an ``idempotency_key`` (one of ``kwargs``), check the key.

        Returns the other arguments: the parameters a replay must repeat, for
        a call that does not normalise them first.
        """
        self._enter(operation, **kwargs)
        check_key(kwargs["idempotency_key"])
        return {name: value for name, value in kwargs.items() if name != "idempotency_key"}

    def _once(self, operation: str, action: Callable[[], _T], **kwargs: Any) -> _T:
        """A call whose parameters are its arguments, checked by nothing but the key:
        record it, check the key, and run ``action`` once per key (see :meth:`_begin`)."""
        params = self._begin(operation, **kwargs)
        return self._idempotent(operation, kwargs["idempotency_key"], params, action)

    def _idempotent(
        self, operation: str, key: str, params: dict[str, Any], action: Callable[[], _T]
    ) -> _T:
        # The whole check-act-record runs under the lock, so concurrent calls
        # with one key act once; Stripe would answer the losers 409
        # idempotency_key_in_use, the fake lets them wait and replays.
        with self._lock:
            record = self._idempotency.get(key)
            if record is not None:
                if record.operation != operation or record.params != params:
                    raise IdempotencyConflict(
                        "Keys for idempotent requests can only be used with the same "
                        "parameters and the same operation they were first used with.",
                        details={
                            "idempotency_key": key,
                            "operation": operation,
                            "first_operation": record.operation,
                        },
                    )
                if record.error is not None:
                    raise _clone_error(record.error)
                return cast(_T, record.result)
            try:
                result = action()
            except _AmbiguousTimeout as timeout:
                self._idempotency[key] = _IdempotencyRecord(operation, params, timeout.result, None)
                raise GatewayUnavailable(
                    "The request to the gateway timed out; it may or may not have been "
                    "carried out. Retry with the same idempotency key.",
                    code="gateway_timeout",
                    details={"operation": operation, "idempotency_key": key},
                ) from None
            except (ValidationError, GatewayUnavailable):
                # Never reached the endpoint, so there is nothing to replay (as at Stripe).
                raise
            except PaykitError as error:
                self._idempotency[key] = _IdempotencyRecord(
                    operation, params, None, _clone_error(error)
                )
                raise
            self._idempotency[key] = _IdempotencyRecord(operation, params, result, None)
            return result

    def _now(self) -> datetime:
        # Whole seconds, because Stripe-shaped objects carry Unix timestamps.
        return ensure_utc(self._clock.now()).replace(microsecond=0)

    def _next_id(self, prefix: str) -> str:
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        return f"{prefix}_{self._namespace}_{number:06d}"

    def _customer(self, customer_id: str) -> GatewayCustomer:
        return self._find(self._customers, "customer", customer_id)

    def _payment(self, payment_id: str) -> GatewayPayment:
        return self._find(self._payments, "payment_intent", payment_id)

    def _method(self, payment_method_id: str) -> GatewayPaymentMethod:
        return self._find(self._methods, "payment_method", payment_method_id)

    def _refund(self, refund_id: str) -> GatewayRefund:
        return self._find(self._refunds, "refund", refund_id)

    @classmethod
    def _find(cls, table: Mapping[str, _V], resource: str, object_id: str) -> _V:
        """``table[object_id]``, else Stripe's ``NotFound`` for a ``resource`` of that id."""
        found = table.get(object_id)
        if found is None:
            raise cls._not_found(resource, object_id)
        return found

    @staticmethod
    def _not_found(resource: str, object_id: str) -> NotFound:
        return NotFound(
            f"No such {resource}: '{object_id}'",
            details={"resource": resource, "id": object_id},
        )

    @staticmethod
    def _network_error(operation: str, payment_id: str | None = None) -> GatewayUnavailable:
        details: dict[str, Any] = {"operation": operation}
        if payment_id is not None:
            details["payment_id"] = payment_id
        return GatewayUnavailable(
            "Could not connect to the payment gateway; the request was not carried out.",
            details=details,
        )

    @staticmethod
    def _payment_method_state(message: str, **details: Any) -> GatewayError:
        """``payment_method_unexpected_state``: the method cannot be used or attached so."""
        return GatewayError(message, code="payment_method_unexpected_state", details=details)

    @staticmethod
    def _payment_state(payment: GatewayPayment, message: str) -> GatewayError:
        """``payment_intent_unexpected_state``: the payment's status refuses the call."""
        return GatewayError(
            message,
            code="payment_intent_unexpected_state",
            details={"payment_id": payment.id, "status": str(payment.status)},
        )

    @classmethod
    def _unexpected_payment_state(cls, payment: GatewayPayment, verb: str) -> GatewayError:
        return cls._payment_state(
            payment,
            f"You cannot {verb} this PaymentIntent because it has a status of {payment.status}.",
        )

    def _payment_in(
        self, payment_id: str, allowed: frozenset[PaymentIntentStatus], verb: str
    ) -> GatewayPayment:
        """The payment, refused (``GatewayError``) unless its status is one of ``allowed``."""
        payment = self._payment(payment_id)
        if payment.status not in allowed:
            raise self._unexpected_payment_state(payment, verb)
        return payment
