"""Stripe webhooks (kept for existing imports): see :mod:`paykit.stripe.webhooks`.

``handle_webhook``, ``replay_failed``, ``process_event``, ``verify_event`` and
the handler table now live in :mod:`paykit.stripe`; every name this module
had is re-exported here unchanged. None of them imports the stripe SDK.
"""

from __future__ import annotations

from paykit.stripe.handlers import HANDLED_EVENT_TYPES, HANDLERS, Handler
from paykit.stripe.signature import DEFAULT_TOLERANCE, verify_event
from paykit.stripe.webhooks import WebhookResponse, handle_webhook, process_event, replay_failed

__all__ = [
    "DEFAULT_TOLERANCE",
    "HANDLED_EVENT_TYPES",
    "HANDLERS",
    "Handler",
    "WebhookResponse",
    "handle_webhook",
    "process_event",
    "replay_failed",
    "verify_event",
]
