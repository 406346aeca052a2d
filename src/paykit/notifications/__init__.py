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
The ``TYPE_CHECKING`` block is the one list of the names (see :mod:`paykit._exports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit.notifications.email import EmailNotifier as EmailNotifier
    from paykit.notifications.events import EmailVerificationRequested as EmailVerificationRequested
    from paykit.notifications.events import Event as Event
    from paykit.notifications.events import InvoicePaymentFailed as InvoicePaymentFailed
    from paykit.notifications.events import OrderPaid as OrderPaid
    from paykit.notifications.events import PasswordResetRequested as PasswordResetRequested
    from paykit.notifications.events import PaymentFailed as PaymentFailed
    from paykit.notifications.events import RefundFailed as RefundFailed
    from paykit.notifications.events import RefundIssued as RefundIssued
    from paykit.notifications.events import RenewalUpcoming as RenewalUpcoming
    from paykit.notifications.events import SubscriptionCancelled as SubscriptionCancelled
    from paykit.notifications.events import SubscriptionCreated as SubscriptionCreated
    from paykit.notifications.events import SubscriptionRenewalFailed as SubscriptionRenewalFailed
    from paykit.notifications.events import TrialEnding as TrialEnding
    from paykit.notifications.notifiers import BackgroundNotifier as BackgroundNotifier
    from paykit.notifications.notifiers import FanOutNotifier as FanOutNotifier
    from paykit.notifications.notifiers import RecordingNotifier as RecordingNotifier
    from paykit.notifications.outbox import Notifier as Notifier
    from paykit.notifications.outbox import Outbox as Outbox
    from paykit.notifications.outbox import attach_notifier as attach_notifier
    from paykit.notifications.outbox import detach_notifier as detach_notifier
    from paykit.notifications.outbox import is_attached as is_attached
    from paykit.notifications.outbox import notify as notify


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first use, and keep the value here."""
    import importlib

    from paykit._exports import registry

    if name == "__all__":
        value: Any = registry(__name__).all
    elif (module := registry(__name__).home.get(name)) is not None:
        value = getattr(importlib.import_module(module), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from paykit._exports import registry

    return sorted(set(globals()) | set(registry(__name__).all))
