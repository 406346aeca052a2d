"""Subscriptions and their invoices, mirrored from the gateway; the lifecycle hosts drive.

Two directions:

* **Gateway → database.** :func:`sync_subscription` and :func:`sync_invoice`
  upsert a row from a neutral gateway snapshot (``GatewaySubscription``,
  ``GatewayInvoice``); a Stripe object or event payload is read into one by
  :mod:`paykit.stripe.events`, loaded only then. Events arrive duplicated
  and out of order, so each row remembers the ``created`` time of the newest
  event applied to it (``stripe_event_created_at``): an older event is skipped,
  an event of the same second is settled by asking the gateway (subscriptions)
  or by the invoice lifecycle's order (invoices), and the write itself is a
  conditional UPDATE, so two parallel deliveries cannot put an older state
  over a newer one.
* **Host → gateway → database.** :func:`subscribe`, :func:`change_subscription`,
  :func:`cancel_subscription` and :func:`resume_subscription` call the gateway
  first (no row lock held) and then sync what it answered.

The modules, by concern:

* :mod:`.statuses` -- gateway statuses → paykit's, and the invoice lifecycle's order;
* :mod:`.statements` -- the prebuilt statements of the sync paths;
* :mod:`.rows` -- writing a synced row: conflict-free INSERT or guarded UPDATE, audited;
* :mod:`.prices` -- the user and price a snapshot refers to, a price imported if new;
* :mod:`.sync` -- ``sync_subscription``;
* :mod:`.invoices` -- ``sync_invoice``;
* :mod:`.customers` -- ``ensure_gateway_customer``;
* :mod:`._common` -- the lookups the lifecycle shares (subscription, recurring price, owner);
* :mod:`.subscribe` -- ``subscribe``;
* :mod:`.lifecycle` -- ``change_subscription``, ``cancel_subscription``, ``resume_subscription``.

The discount rules live in :mod:`paykit.services.discounts`.
"""

from __future__ import annotations

from paykit.services.subscriptions.customers import ensure_gateway_customer
from paykit.services.subscriptions.invoices import sync_invoice
from paykit.services.subscriptions.lifecycle import (
    cancel_subscription,
    change_subscription,
    resume_subscription,
)
from paykit.services.subscriptions.statuses import INVOICE_STATUSES, SUBSCRIPTION_STATUSES
from paykit.services.subscriptions.subscribe import SCOPE_SUBSCRIBE as SCOPE_SUBSCRIBE
from paykit.services.subscriptions.subscribe import subscribe
from paykit.services.subscriptions.sync import sync_subscription

__all__ = [
    "INVOICE_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "cancel_subscription",
    "change_subscription",
    "ensure_gateway_customer",
    "resume_subscription",
    "subscribe",
    "sync_invoice",
    "sync_subscription",
]
