"""Billing for customers: saved payment methods, invoices, hosted checkout (docs/billing.md)."""

from paykit.services.billing.checkout import (
    complete_checkout,
    create_checkout_session,
    save_setup_intent_method,
)
from paykit.services.billing.invoices import (
    InvoiceView,
    get_invoice,
    list_invoices,
    pay_invoice,
    sync_invoice_details,
    void_invoice,
)
from paykit.services.billing.payment_methods import (
    detach_payment_method,
    list_expiring_payment_methods,
    list_payment_methods,
    set_default_payment_method,
    start_payment_method_setup,
    store_payment_method,
)
from paykit.services.billing.retry import RetryResult, retry_invoice

__all__ = [
    "InvoiceView",
    "RetryResult",
    "complete_checkout",
    "create_checkout_session",
    "detach_payment_method",
    "get_invoice",
    "list_expiring_payment_methods",
    "list_invoices",
    "list_payment_methods",
    "pay_invoice",
    "retry_invoice",
    "save_setup_intent_method",
    "set_default_payment_method",
    "start_payment_method_setup",
    "store_payment_method",
    "sync_invoice_details",
    "void_invoice",
]
