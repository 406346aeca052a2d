"""The public surface is locked: adding or removing a name is a deliberate act."""

from __future__ import annotations

import inspect
import subprocess
import sys

import paykit

EXPECTED = [
    "DEFAULT_CONFIG",
    "DEFAULT_RETENTION",
    "POLICY",
    "Action",
    "Actor",
    "BillingNotice",
    "Clock",
    "ConfigKey",
    "ConfigRegistry",
    "Currency",
    "DiscountRule",
    "DiscountUsageCounts",
    "DownloadGrant",
    "DownloadLink",
    "FakeGateway",
    "Finding",
    "FrozenClock",
    "InvoiceLine",
    "Keyring",
    "LineInput",
    "LoginResult",
    "LoginThrottle",
    "MrrMovements",
    "OrderItemOut",
    "OrderOut",
    "OrderResult",
    "OrderView",
    "Page",
    "PasswordHasher",
    "PaykitError",
    "PaymentGateway",
    "PaymentInfo",
    "PaymentOut",
    "PricedLine",
    "PricedOrder",
    "ProratedChange",
    "ProrationLine",
    "Quote",
    "QuoteLine",
    "RatingSummary",
    "ReconcileReport",
    "RefundOut",
    "RefundSplit",
    "Report",
    "RequestContext",
    "RetentionPolicy",
    "RetentionReport",
    "ReviewOut",
    "SeedResult",
    "StripeGateway",
    "SubscriptionChangePreview",
    "SystemClock",
    "TicketOut",
    "UserSummary",
    "VoteResult",
    "WebhookResponse",
    "__version__",
    "add_ticket_message",
    "allocate",
    "apply_discount",
    "apply_payment",
    "apply_scheduled_changes",
    "arpu",
    "as_money",
    "assign_ticket",
    "cancel_order",
    "cancel_subscription",
    "change_password",
    "change_subscription",
    "check",
    "check_discount_eligibility",
    "configure_encryption",
    "create_discount",
    "create_engine",
    "create_price",
    "create_product",
    "create_review",
    "current_revision",
    "customer_churn_rate",
    "delete_review",
    "delete_user",
    "discount_amount",
    "downgrade",
    "download_link",
    "edit_review",
    "enable_row_level_security",
    "end_trial",
    "end_trials",
    "enforce_grace_period",
    "ensure_gateway_customer",
    "errors",
    "extend_trial",
    "fail_order_payment",
    "from_minor_units",
    "get_config",
    "get_config_values",
    "get_currency",
    "get_order",
    "get_review",
    "handle_webhook",
    "head_revision",
    "hide_review",
    "issue_refund",
    "list_orders",
    "list_reviews",
    "list_tickets",
    "list_users",
    "login",
    "ltv",
    "mark_order_paid",
    "migrate",
    "models",
    "mrr",
    "mrr_movements",
    "open_ticket",
    "pay_order",
    "place_order",
    "preview_subscription_change",
    "price_order",
    "prorate_change",
    "purge_expired_sessions",
    "purge_login_attempts",
    "purge_old_records",
    "quantize",
    "quote_order",
    "rating_summary",
    "reconcile",
    "record_gateway_refund",
    "record_payment_failure",
    "record_payment_success",
    "redeem_download",
    "reencrypt_personal_data",
    "refund_split",
    "refundable_amount",
    "register_user",
    "release_expired_orders",
    "replay_failed",
    "request_email_verification",
    "request_password_reset",
    "reset_password",
    "resume_subscription",
    "revenue_churn",
    "revoke_all_sessions",
    "revoke_session",
    "seed",
    "set_actor",
    "set_config",
    "set_order_internal_notes",
    "set_price_active",
    "set_ticket_status",
    "set_user_role",
    "set_user_status",
    "subscribe",
    "sync_invoice",
    "sync_order_payment",
    "sync_refund",
    "sync_subscription",
    "ticket_messages",
    "to_minor_units",
    "trial_ending_notices",
    "update_discount",
    "update_product",
    "update_profile",
    "validate_session",
    "verify_email",
    "view_order",
    "vote_review_helpful",
    "webhooks",
]
# paykit beside a host's own tables (docs/hosting.md).
EXPECTED += ["use_schema"]
# The catalog read side (paykit.services.catalog).
EXPECTED += [
    "CategoryNode",
    "CategoryRef",
    "LowStockOut",
    "PaymentMethodOut",
    "PriceOut",
    "ProductOut",
    "ProductSummaryOut",
    "ProductView",
    "RevenueOut",
    "SubscriptionOut",
    "UserSubscriptionsOut",
    "category_tree",
    "create_category",
    "get_product",
    "list_products",
    "list_products_admin",
    "low_stock_report",
    "monthly_revenue",
    "move_category",
    "rename_category",
    "revenue",
    "user_subscriptions",
]

# Saved cards, invoices, hosted checkout (paykit.services.billing).
EXPECTED += [
    "BillingMethodsGateway",
    "InvoiceView",
    "RetryResult",
    "create_checkout_session",
    "detach_payment_method",
    "get_invoice",
    "list_expiring_payment_methods",
    "list_invoices",
    "list_payment_methods",
    "pay_invoice",
    "retry_invoice",
    "set_default_payment_method",
    "start_payment_method_setup",
    "void_invoice",
]

# Renewals: who pays, what the next invoice is (docs/subscriptions.md).
EXPECTED += [
    "RenewalBillingGateway",
    "UpcomingInvoice",
    "set_subscription_default_payment_method",
    "upcoming_invoice",
]


def test_exports_are_locked() -> None:
    assert paykit.__all__ == EXPECTED


def test_exports_are_unique() -> None:
    # (Their order is ruff's RUF022 sort, which the lint session enforces.)
    assert len(paykit.__all__) == len(set(paykit.__all__))


def test_every_export_resolves_and_is_documented() -> None:
    for name in paykit.__all__:
        value = getattr(paykit, name)
        if name == "__version__" or not (
            inspect.isclass(value) or callable(value) or inspect.ismodule(value)
        ):
            continue
        assert inspect.getdoc(value), f"paykit.{name} has no docstring"


def test_import_paykit_does_not_load_the_stripe_sdk() -> None:
    code = "import sys, paykit; print('stripe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_design_names_are_where_design_md_says() -> None:
    from paykit.clock import Clock, FrozenClock, SystemClock  # noqa: F401
    from paykit.errors import PaykitError
    from paykit.gateways import FakeGateway, PaymentGateway, StripeGateway  # noqa: F401

    assert issubclass(paykit.errors.DiscountError, PaykitError)
    for model in ("User", "Order", "OrderItem", "Subscription", "Invoice", "Refund"):
        assert hasattr(paykit.models, model)
