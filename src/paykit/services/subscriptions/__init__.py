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
* :mod:`._common` -- the lookups the lifecycle shares (subscription, recurring price, owner,
  a payment method of the owner, the plan of the next period, the gateway's key);
* :mod:`._steps` -- the steps after a gateway call: sync and audit its answer,
  read its current state, cancel now for a reason;
* :mod:`.subscribe` -- ``subscribe``;
* :mod:`.proration` -- ``preview_subscription_change``: what a change would bill;
* :mod:`.changes` -- ``change_subscription`` (prorated, or at the period's end),
  ``apply_scheduled_changes``;
* :mod:`.lifecycle` -- ``cancel_subscription`` (with its reason), ``resume_subscription``;
* :mod:`.notices` -- ``BillingNotice``, what a host tells its customer;
* :mod:`.trials` -- ``extend_trial``, ``end_trial``, ``end_trials``, ``trial_ending_notices``;
* :mod:`.dunning` -- ``record_payment_failure``, ``record_payment_success``,
  ``enforce_grace_period``;
* :mod:`.renewals` -- ``set_subscription_default_payment_method``, ``upcoming_invoice``.

The discount rules live in :mod:`paykit.services.discounts`.
"""

from __future__ import annotations

from paykit.services.subscriptions.changes import apply_scheduled_changes, change_subscription
from paykit.services.subscriptions.customers import ensure_gateway_customer
from paykit.services.subscriptions.dunning import (
    enforce_grace_period,
    record_payment_failure,
    record_payment_success,
)
from paykit.services.subscriptions.invoices import sync_invoice
from paykit.services.subscriptions.lifecycle import (
    CANCELLATION_FEEDBACK,
    cancel_subscription,
    resume_subscription,
)
from paykit.services.subscriptions.notices import NOTICE_KINDS, BillingNotice
from paykit.services.subscriptions.proration import (
    InvoiceLine,
    SubscriptionChangePreview,
    preview_subscription_change,
)
from paykit.services.subscriptions.renewals import (
    UpcomingInvoice,
    set_subscription_default_payment_method,
    upcoming_invoice,
)
from paykit.services.subscriptions.statuses import INVOICE_STATUSES, SUBSCRIPTION_STATUSES
from paykit.services.subscriptions.subscribe import SCOPE_SUBSCRIBE as SCOPE_SUBSCRIBE
from paykit.services.subscriptions.subscribe import subscribe
from paykit.services.subscriptions.sync import sync_subscription
from paykit.services.subscriptions.trials import (
    TRIAL_END_BEHAVIORS,
    end_trial,
    end_trials,
    extend_trial,
    trial_ending_notices,
)

__all__ = [
    "CANCELLATION_FEEDBACK",
    "INVOICE_STATUSES",
    "NOTICE_KINDS",
    "SUBSCRIPTION_STATUSES",
    "TRIAL_END_BEHAVIORS",
    "BillingNotice",
    "InvoiceLine",
    "SubscriptionChangePreview",
    "UpcomingInvoice",
    "apply_scheduled_changes",
    "cancel_subscription",
    "change_subscription",
    "end_trial",
    "end_trials",
    "enforce_grace_period",
    "ensure_gateway_customer",
    "extend_trial",
    "preview_subscription_change",
    "record_payment_failure",
    "record_payment_success",
    "resume_subscription",
    "set_subscription_default_payment_method",
    "subscribe",
    "sync_invoice",
    "sync_subscription",
    "trial_ending_notices",
    "upcoming_invoice",
]
