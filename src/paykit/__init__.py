"""paykit: a complete SaaS payment back end as a Python library.

The flat namespace below is the public API. Submodules (``paykit.models``,
``paykit.errors``, ``paykit.gateways``, ``paykit.webhooks``, ...) are public
too; names that start with an underscore are not.

Every name is loaded on first use (PEP 562): ``import paykit`` imports no
submodule, so a host that only needs ``paykit.money`` or ``paykit.errors``
does not pay for SQLAlchemy, Alembic, pydantic, bcrypt or the stripe SDK.
``paykit.place_order`` imports the services (and with them the database
layer) the first time it is read.

The ``TYPE_CHECKING`` block is the one list of these names: each line is an
explicit re-export (``from m import X as X``) for mypy, pyright and IDEs, and
at run time :mod:`paykit._exports` reads the same block to find the module of
a name and to build ``__all__`` (on first use). A public name is added there,
and in tests/unit/test_exports.py's lock, and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit import errors as errors
    from paykit import models as models
    from paykit import webhooks as webhooks
    from paykit.analytics import MrrMovements as MrrMovements
    from paykit.analytics import arpu as arpu
    from paykit.analytics import customer_churn_rate as customer_churn_rate
    from paykit.analytics import ltv as ltv
    from paykit.analytics import mrr as mrr
    from paykit.analytics import mrr_movements as mrr_movements
    from paykit.analytics import revenue_churn as revenue_churn
    from paykit.checks import Finding as Finding
    from paykit.checks import Report as Report
    from paykit.checks import check as check
    from paykit.clock import Clock as Clock
    from paykit.clock import FrozenClock as FrozenClock
    from paykit.clock import SystemClock as SystemClock
    from paykit.context import RequestContext as RequestContext
    from paykit.db import create_engine as create_engine
    from paykit.db import use_schema as use_schema
    from paykit.errors import PaykitError as PaykitError
    from paykit.gateways import FakeGateway as FakeGateway
    from paykit.gateways import PaymentGateway as PaymentGateway
    from paykit.gateways.billing import BillingMethodsGateway as BillingMethodsGateway
    from paykit.gateways.renewal_billing import RenewalBillingGateway as RenewalBillingGateway
    from paykit.gateways.stripe import StripeGateway as StripeGateway
    from paykit.migrator import current_revision as current_revision
    from paykit.migrator import downgrade as downgrade
    from paykit.migrator import head_revision as head_revision
    from paykit.migrator import migrate as migrate
    from paykit.money import Currency as Currency
    from paykit.money import as_money as as_money
    from paykit.money import from_minor_units as from_minor_units
    from paykit.money import get_currency as get_currency
    from paykit.money import quantize as quantize
    from paykit.money import to_minor_units as to_minor_units
    from paykit.pricing import DiscountRule as DiscountRule
    from paykit.pricing import DiscountUsageCounts as DiscountUsageCounts
    from paykit.pricing import LineInput as LineInput
    from paykit.pricing import PricedLine as PricedLine
    from paykit.pricing import PricedOrder as PricedOrder
    from paykit.pricing import RefundSplit as RefundSplit
    from paykit.pricing import allocate as allocate
    from paykit.pricing import check_discount_eligibility as check_discount_eligibility
    from paykit.pricing import discount_amount as discount_amount
    from paykit.pricing import price_order as price_order
    from paykit.pricing import refund_split as refund_split
    from paykit.pricing import refundable_amount as refundable_amount
    from paykit.pricing.proration import ProratedChange as ProratedChange
    from paykit.pricing.proration import ProrationLine as ProrationLine
    from paykit.pricing.proration import prorate_change as prorate_change
    from paykit.security import POLICY as POLICY
    from paykit.security import Action as Action
    from paykit.security import Actor as Actor
    from paykit.security import Keyring as Keyring
    from paykit.security import PasswordHasher as PasswordHasher
    from paykit.security import configure_encryption as configure_encryption
    from paykit.security import reencrypt_personal_data as reencrypt_personal_data
    from paykit.security.rls import enable_row_level_security as enable_row_level_security
    from paykit.security.rls import set_actor as set_actor
    from paykit.services import OrderResult as OrderResult
    from paykit.services import PaymentInfo as PaymentInfo
    from paykit.services import ReconcileReport as ReconcileReport
    from paykit.services import SeedResult as SeedResult
    from paykit.services import apply_discount as apply_discount
    from paykit.services import apply_payment as apply_payment
    from paykit.services import cancel_order as cancel_order
    from paykit.services import cancel_subscription as cancel_subscription
    from paykit.services import change_subscription as change_subscription
    from paykit.services import ensure_gateway_customer as ensure_gateway_customer
    from paykit.services import fail_order_payment as fail_order_payment
    from paykit.services import issue_refund as issue_refund
    from paykit.services import mark_order_paid as mark_order_paid
    from paykit.services import pay_order as pay_order
    from paykit.services import place_order as place_order
    from paykit.services import record_gateway_refund as record_gateway_refund
    from paykit.services import release_expired_orders as release_expired_orders
    from paykit.services import resume_subscription as resume_subscription
    from paykit.services import subscribe as subscribe
    from paykit.services import sync_invoice as sync_invoice
    from paykit.services import sync_order_payment as sync_order_payment
    from paykit.services import sync_refund as sync_refund
    from paykit.services import sync_subscription as sync_subscription
    from paykit.services.admin import DiscountOut as DiscountOut
    from paykit.services.admin import create_discount as create_discount
    from paykit.services.admin import create_price as create_price
    from paykit.services.admin import create_product as create_product
    from paykit.services.admin import list_discounts as list_discounts
    from paykit.services.admin import set_price_active as set_price_active
    from paykit.services.admin import update_discount as update_discount
    from paykit.services.admin import update_product as update_product
    from paykit.services.billing import InvoiceView as InvoiceView
    from paykit.services.billing import RetryResult as RetryResult
    from paykit.services.billing import create_checkout_session as create_checkout_session
    from paykit.services.billing import detach_payment_method as detach_payment_method
    from paykit.services.billing import get_invoice as get_invoice
    from paykit.services.billing import (
        list_expiring_payment_methods as list_expiring_payment_methods,
    )
    from paykit.services.billing import list_invoices as list_invoices
    from paykit.services.billing import list_payment_methods as list_payment_methods
    from paykit.services.billing import pay_invoice as pay_invoice
    from paykit.services.billing import retry_invoice as retry_invoice
    from paykit.services.billing import set_default_payment_method as set_default_payment_method
    from paykit.services.billing import start_payment_method_setup as start_payment_method_setup
    from paykit.services.billing import void_invoice as void_invoice
    from paykit.services.catalog import CategoryNode as CategoryNode
    from paykit.services.catalog import CategoryRef as CategoryRef
    from paykit.services.catalog import LowStockOut as LowStockOut
    from paykit.services.catalog import PaymentMethodOut as PaymentMethodOut
    from paykit.services.catalog import PriceOut as PriceOut
    from paykit.services.catalog import ProductOut as ProductOut
    from paykit.services.catalog import ProductSummaryOut as ProductSummaryOut
    from paykit.services.catalog import ProductView as ProductView
    from paykit.services.catalog import RevenueOut as RevenueOut
    from paykit.services.catalog import SubscriptionOut as SubscriptionOut
    from paykit.services.catalog import UserSubscriptionsOut as UserSubscriptionsOut
    from paykit.services.catalog import category_tree as category_tree
    from paykit.services.catalog import create_category as create_category
    from paykit.services.catalog import get_product as get_product
    from paykit.services.catalog import list_products as list_products
    from paykit.services.catalog import list_products_admin as list_products_admin
    from paykit.services.catalog import low_stock_report as low_stock_report
    from paykit.services.catalog import monthly_revenue as monthly_revenue
    from paykit.services.catalog import move_category as move_category
    from paykit.services.catalog import rename_category as rename_category
    from paykit.services.catalog import revenue as revenue
    from paykit.services.catalog import user_subscriptions as user_subscriptions
    from paykit.services.config import DEFAULT_CONFIG as DEFAULT_CONFIG
    from paykit.services.config import ConfigKey as ConfigKey
    from paykit.services.config import ConfigRegistry as ConfigRegistry
    from paykit.services.config import get_config as get_config
    from paykit.services.config import get_config_values as get_config_values
    from paykit.services.config import set_config as set_config
    from paykit.services.downloads import DownloadGrant as DownloadGrant
    from paykit.services.downloads import DownloadLink as DownloadLink
    from paykit.services.downloads import download_link as download_link
    from paykit.services.downloads import redeem_download as redeem_download
    from paykit.services.quotes import Quote as Quote
    from paykit.services.quotes import QuoteLine as QuoteLine
    from paykit.services.quotes import quote_order as quote_order
    from paykit.services.reads import OrderItemOut as OrderItemOut
    from paykit.services.reads import OrderOut as OrderOut
    from paykit.services.reads import Page as Page
    from paykit.services.reads import PaymentOut as PaymentOut
    from paykit.services.reads import RefundOut as RefundOut
    from paykit.services.reads import get_order as get_order
    from paykit.services.reads import list_orders as list_orders
    from paykit.services.reconcile import reconcile as reconcile
    from paykit.services.retention import DEFAULT_RETENTION as DEFAULT_RETENTION
    from paykit.services.retention import RetentionPolicy as RetentionPolicy
    from paykit.services.retention import RetentionReport as RetentionReport
    from paykit.services.retention import purge_old_records as purge_old_records
    from paykit.services.reviews import RatingSummary as RatingSummary
    from paykit.services.reviews import ReviewOut as ReviewOut
    from paykit.services.reviews import VoteResult as VoteResult
    from paykit.services.reviews import create_review as create_review
    from paykit.services.reviews import delete_review as delete_review
    from paykit.services.reviews import edit_review as edit_review
    from paykit.services.reviews import get_review as get_review
    from paykit.services.reviews import hide_review as hide_review
    from paykit.services.reviews import list_reviews as list_reviews
    from paykit.services.reviews import rating_summary as rating_summary
    from paykit.services.reviews import vote_review_helpful as vote_review_helpful
    from paykit.services.seed import seed as seed
    from paykit.services.subscriptions import BillingNotice as BillingNotice
    from paykit.services.subscriptions import InvoiceLine as InvoiceLine
    from paykit.services.subscriptions import SubscriptionChangePreview as SubscriptionChangePreview
    from paykit.services.subscriptions import apply_scheduled_changes as apply_scheduled_changes
    from paykit.services.subscriptions import end_trial as end_trial
    from paykit.services.subscriptions import end_trials as end_trials
    from paykit.services.subscriptions import enforce_grace_period as enforce_grace_period
    from paykit.services.subscriptions import extend_trial as extend_trial
    from paykit.services.subscriptions import (
        preview_subscription_change as preview_subscription_change,
    )
    from paykit.services.subscriptions import record_payment_failure as record_payment_failure
    from paykit.services.subscriptions import record_payment_success as record_payment_success
    from paykit.services.subscriptions import trial_ending_notices as trial_ending_notices
    from paykit.services.subscriptions.renewals import UpcomingInvoice as UpcomingInvoice
    from paykit.services.subscriptions.renewals import (
        set_subscription_default_payment_method as set_subscription_default_payment_method,
    )
    from paykit.services.subscriptions.renewals import upcoming_invoice as upcoming_invoice
    from paykit.services.support import OrderView as OrderView
    from paykit.services.support import TicketOut as TicketOut
    from paykit.services.support import add_ticket_message as add_ticket_message
    from paykit.services.support import assign_ticket as assign_ticket
    from paykit.services.support import list_tickets as list_tickets
    from paykit.services.support import open_ticket as open_ticket
    from paykit.services.support import set_order_internal_notes as set_order_internal_notes
    from paykit.services.support import set_ticket_status as set_ticket_status
    from paykit.services.support import ticket_messages as ticket_messages
    from paykit.services.support import view_order as view_order
    from paykit.services.throttle import LoginThrottle as LoginThrottle
    from paykit.services.throttle import purge_login_attempts as purge_login_attempts
    from paykit.services.users import LoginResult as LoginResult
    from paykit.services.users import UserSummary as UserSummary
    from paykit.services.users import change_password as change_password
    from paykit.services.users import delete_user as delete_user
    from paykit.services.users import list_users as list_users
    from paykit.services.users import login as login
    from paykit.services.users import purge_expired_sessions as purge_expired_sessions
    from paykit.services.users import register_user as register_user
    from paykit.services.users import request_email_verification as request_email_verification
    from paykit.services.users import request_password_reset as request_password_reset
    from paykit.services.users import reset_password as reset_password
    from paykit.services.users import revoke_all_sessions as revoke_all_sessions
    from paykit.services.users import revoke_session as revoke_session
    from paykit.services.users import set_user_role as set_user_role
    from paykit.services.users import set_user_status as set_user_status
    from paykit.services.users import update_profile as update_profile
    from paykit.services.users import validate_session as validate_session
    from paykit.services.users import verify_email as verify_email
    from paykit.webhooks import WebhookResponse as WebhookResponse
    from paykit.webhooks import handle_webhook as handle_webhook
    from paykit.webhooks import replay_failed as replay_failed

    __version__: str

if TYPE_CHECKING:  # not a public name: the block above is the registry
    from paykit._exports import Registry


def _registry() -> Registry:
    """The names of the block above, read from this file on first use (paykit._exports)."""
    from paykit._exports import registry

    return registry(__name__)


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first use, and keep the value here."""
    import importlib.util

    if name == "_EXPORTS":
        return _registry().by_module()
    # Dunder lookups (the import system's) must not read the table, but __all__'s.
    module = None if name.startswith("_") else _registry().home.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name == "__all__":
        value = _registry().all
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
    return sorted(set(globals()) | set(_registry().all))


def _installed_version() -> str:
    # Not named _version: importing the submodule paykit._version would rebind that name.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paykit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from paykit._version import __version__

        return __version__
