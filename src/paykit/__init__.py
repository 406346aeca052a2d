"""paykit: a complete SaaS payment back end as a Python library.

The flat namespace below is the public API. Submodules (``paykit.models``,
``paykit.errors``, ``paykit.gateways``, ``paykit.webhooks``, ...) are public
too; names that start with an underscore are not.

Every name is loaded on first use (PEP 562): ``import paykit`` imports no
submodule, so a host that only needs ``paykit.money`` or ``paykit.errors``
does not pay for SQLAlchemy, Alembic, pydantic, bcrypt or the stripe SDK.
``paykit.place_order`` imports the services (and with them the database
layer) the first time it is read. The ``TYPE_CHECKING`` block shows the same
names to type checkers and IDEs; a test keeps it equal to :data:`_EXPORTS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit import errors, models, webhooks
    from paykit.analytics import (
        MrrMovements,
        arpu,
        customer_churn_rate,
        ltv,
        mrr,
        mrr_movements,
        revenue_churn,
    )
    from paykit.checks import (
        Finding,
        Report,
        check,
    )
    from paykit.clock import (
        Clock,
        FrozenClock,
        SystemClock,
    )
    from paykit.context import RequestContext
    from paykit.db import create_engine, use_schema
    from paykit.errors import PaykitError
    from paykit.gateways import (
        FakeGateway,
        PaymentGateway,
    )
    from paykit.gateways.billing import BillingMethodsGateway
    from paykit.gateways.renewal_billing import RenewalBillingGateway
    from paykit.gateways.stripe import StripeGateway
    from paykit.migrator import (
        current_revision,
        downgrade,
        head_revision,
        migrate,
    )
    from paykit.money import (
        Currency,
        as_money,
        from_minor_units,
        get_currency,
        quantize,
        to_minor_units,
    )
    from paykit.pricing import (
        DiscountRule,
        DiscountUsageCounts,
        LineInput,
        PricedLine,
        PricedOrder,
        RefundSplit,
        allocate,
        check_discount_eligibility,
        discount_amount,
        price_order,
        refund_split,
        refundable_amount,
    )
    from paykit.pricing.proration import (
        ProratedChange,
        ProrationLine,
        prorate_change,
    )
    from paykit.security import (
        POLICY,
        Action,
        Actor,
        Keyring,
        PasswordHasher,
        configure_encryption,
        reencrypt_personal_data,
    )
    from paykit.security.rls import (
        enable_row_level_security,
        set_actor,
    )
    from paykit.services import (
        OrderResult,
        PaymentInfo,
        ReconcileReport,
        SeedResult,
        apply_discount,
        apply_payment,
        cancel_order,
        cancel_subscription,
        change_subscription,
        ensure_gateway_customer,
        fail_order_payment,
        issue_refund,
        mark_order_paid,
        pay_order,
        place_order,
        record_gateway_refund,
        release_expired_orders,
        resume_subscription,
        subscribe,
        sync_invoice,
        sync_order_payment,
        sync_refund,
        sync_subscription,
    )
    from paykit.services.admin import (
        create_discount,
        create_price,
        create_product,
        set_price_active,
        update_discount,
        update_product,
    )
    from paykit.services.billing import (
        InvoiceView,
        RetryResult,
        create_checkout_session,
        detach_payment_method,
        get_invoice,
        list_expiring_payment_methods,
        list_invoices,
        list_payment_methods,
        pay_invoice,
        retry_invoice,
        set_default_payment_method,
        start_payment_method_setup,
        void_invoice,
    )

    # --- catalog read side (paykit.services.catalog; docs/catalog.md)
    from paykit.services.catalog import (
        CategoryNode,
        CategoryRef,
        LowStockOut,
        PaymentMethodOut,
        PriceOut,
        ProductOut,
        ProductSummaryOut,
        ProductView,
        RevenueOut,
        SubscriptionOut,
        UserSubscriptionsOut,
        category_tree,
        create_category,
        get_product,
        list_products,
        list_products_admin,
        low_stock_report,
        monthly_revenue,
        move_category,
        rename_category,
        revenue,
        user_subscriptions,
    )
    from paykit.services.config import (
        DEFAULT_CONFIG,
        ConfigKey,
        ConfigRegistry,
        get_config,
        get_config_values,
        set_config,
    )
    from paykit.services.downloads import (
        DownloadGrant,
        DownloadLink,
        download_link,
        redeem_download,
    )
    from paykit.services.quotes import (
        Quote,
        QuoteLine,
        quote_order,
    )
    from paykit.services.reads import (
        OrderItemOut,
        OrderOut,
        Page,
        PaymentOut,
        RefundOut,
        get_order,
        list_orders,
    )
    from paykit.services.reconcile import reconcile
    from paykit.services.retention import (
        DEFAULT_RETENTION,
        RetentionPolicy,
        RetentionReport,
        purge_old_records,
    )
    from paykit.services.reviews import (
        RatingSummary,
        ReviewOut,
        VoteResult,
        create_review,
        delete_review,
        edit_review,
        get_review,
        hide_review,
        list_reviews,
        rating_summary,
        vote_review_helpful,
    )
    from paykit.services.seed import seed
    from paykit.services.subscriptions import (
        BillingNotice,
        InvoiceLine,
        SubscriptionChangePreview,
        apply_scheduled_changes,
        end_trial,
        end_trials,
        enforce_grace_period,
        extend_trial,
        preview_subscription_change,
        record_payment_failure,
        record_payment_success,
        trial_ending_notices,
    )
    from paykit.services.subscriptions.renewals import (
        UpcomingInvoice,
        set_subscription_default_payment_method,
        upcoming_invoice,
    )
    from paykit.services.support import (
        OrderView,
        TicketOut,
        add_ticket_message,
        assign_ticket,
        list_tickets,
        open_ticket,
        set_order_internal_notes,
        set_ticket_status,
        ticket_messages,
        view_order,
    )
    from paykit.services.throttle import (
        LoginThrottle,
        purge_login_attempts,
    )
    from paykit.services.users import (
        LoginResult,
        UserSummary,
        change_password,
        delete_user,
        list_users,
        login,
        purge_expired_sessions,
        register_user,
        request_email_verification,
        request_password_reset,
        reset_password,
        revoke_all_sessions,
        revoke_session,
        set_user_role,
        set_user_status,
        update_profile,
        validate_session,
        verify_email,
    )
    from paykit.webhooks import (
        WebhookResponse,
        handle_webhook,
        replay_failed,
    )

    __version__: str

_HOME: dict[str, str] = {}


def _home(name: str) -> str | None:
    """The module that holds public ``name`` (the table is read on first use)."""
    if not _HOME:
        from paykit._exports import EXPORTS

        _HOME.update({n: module for module, names in EXPORTS.items() for n in names})
    return _HOME.get(name)


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first use, and keep the value here."""
    import importlib.util

    if name == "_EXPORTS":
        from paykit._exports import EXPORTS

        return EXPORTS
    # Dunder lookups (the import system's) must not load the table.
    module = None if name.startswith("_") else _home(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name == "__version__":
        value = _installed_version()
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        # A submodule (paykit.services, paykit.security, ...): before names were
        # loaded lazily, `import paykit` imported them all, and hosts read them so.
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _installed_version() -> str:
    # Not named _version: importing the submodule paykit._version would rebind that name.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paykit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from paykit._version import __version__

        return __version__


__all__ = [
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
__all__ += ["use_schema"]

# The catalog read side (paykit.services.catalog; docs/catalog.md).
__all__ += [
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

# Saved cards, invoices, hosted checkout (paykit.services.billing; docs/billing.md).
__all__ += [
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
__all__ += [
    "RenewalBillingGateway",
    "UpcomingInvoice",
    "set_subscription_default_payment_method",
    "upcoming_invoice",
]
