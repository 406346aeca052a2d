"""Notifications: paykit's domain events, delivered after the host commits.

A host attaches a notifier to its session; the services queue events
(order paid, refund issued, subscription renewal failed or upcoming, trial ending, ...)
while the transaction runs, and the notifier receives them only after the
commit, never for a transaction (or savepoint) that rolled back::

    from paykit.notifications import BackgroundNotifier, EmailNotifier, attach_notifier

    mailer = BackgroundNotifier(EmailNotifier(sender="shop@example.com", host="smtp"))
    with Session(engine) as session:
        attach_notifier(session, mailer)
        with session.begin():
            paykit.pay_order(session, order_id=order_id, gateway=gateway)
        # committed: OrderPaid is now on its way

Names load their module on first use: ``EmailNotifier`` needs the ``email``
extra (Jinja2); nothing else here needs more than paykit's own dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit.notifications.email import EmailNotifier
    from paykit.notifications.events import (
        EmailVerificationRequested,
        Event,
        InvoicePaymentFailed,
        OrderPaid,
        PasswordResetRequested,
        PaymentFailed,
        RefundFailed,
        RefundIssued,
        RenewalUpcoming,
        SubscriptionCancelled,
        SubscriptionCreated,
        SubscriptionRenewalFailed,
        TrialEnding,
    )
    from paykit.notifications.notifiers import (
        BackgroundNotifier,
        FanOutNotifier,
        RecordingNotifier,
    )
    from paykit.notifications.outbox import (
        Notifier,
        Outbox,
        attach_notifier,
        detach_notifier,
        is_attached,
        notify,
    )

_WHERE = {
    "paykit.notifications.email": ("EmailNotifier",),
    "paykit.notifications.events": (
        "EmailVerificationRequested",
        "Event",
        "InvoicePaymentFailed",
        "OrderPaid",
        "PasswordResetRequested",
        "PaymentFailed",
        "RefundFailed",
        "RefundIssued",
        "RenewalUpcoming",
        "SubscriptionCancelled",
        "SubscriptionCreated",
        "SubscriptionRenewalFailed",
        "TrialEnding",
    ),
    "paykit.notifications.notifiers": (
        "BackgroundNotifier",
        "FanOutNotifier",
        "RecordingNotifier",
    ),
    "paykit.notifications.outbox": (
        "Notifier",
        "Outbox",
        "attach_notifier",
        "detach_notifier",
        "is_attached",
        "notify",
    ),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


__all__ = [
    "BackgroundNotifier",
    "EmailNotifier",
    "EmailVerificationRequested",
    "Event",
    "FanOutNotifier",
    "InvoicePaymentFailed",
    "Notifier",
    "OrderPaid",
    "Outbox",
    "PasswordResetRequested",
    "PaymentFailed",
    "RecordingNotifier",
    "RefundFailed",
    "RefundIssued",
    "RenewalUpcoming",
    "SubscriptionCancelled",
    "SubscriptionCreated",
    "SubscriptionRenewalFailed",
    "TrialEnding",
    "attach_notifier",
    "detach_notifier",
    "is_attached",
    "notify",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'paykit.notifications' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
