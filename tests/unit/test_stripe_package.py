"""paykit.stripe: loaded lazily, old import paths kept, Stripe objects read into neutral types."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.stripe_server import fixture

import paykit.stripe
from paykit.errors import ValidationError
from paykit.gateways.base import (
    GatewayInvoiceStatus,
    GatewayRefundStatus,
    GatewaySubscriptionStatus,
)
from paykit.stripe.billing import invoice_from_stripe
from paykit.stripe.events import read_invoice, read_subscription
from paykit.stripe.objects import price_from_stripe, product_from_stripe, refund_from_stripe

PACKAGE = Path(paykit.stripe.__file__).parent


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\n"
        "import sys\n"
        "print(sorted(m for m in sys.modules if m == 'stripe' or m.startswith('stripe.')"
        " or m == 'paykit.stripe' or m.startswith('paykit.stripe.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = ast.literal_eval(out.strip().splitlines()[-1])
    return loaded


def test_import_paykit_and_the_services_leaves_stripe_unloaded() -> None:
    code = (
        "import pkgutil, importlib, paykit, paykit.services, paykit.services.subscriptions\n"
        "for info in pkgutil.walk_packages(paykit.services.__path__, 'paykit.services.'):\n"
        "    importlib.import_module(info.name)\n"
        "import paykit.gateways"
    )
    assert _loaded_after(code) == []


def test_the_probe_sees_a_loaded_package() -> None:
    # The test above can fail: the same probe does see paykit.stripe once it is used.
    loaded = _loaded_after("import paykit.gateways as g; g.StripeGateway")
    assert "stripe" in loaded
    assert "paykit.stripe.gateway" in loaded


def test_webhooks_do_not_need_the_stripe_sdk() -> None:
    loaded = _loaded_after("import paykit.webhooks, paykit.stripe.webhooks")
    assert "paykit.stripe.webhooks" in loaded
    assert "stripe" not in loaded


def test_old_import_paths_give_the_same_objects() -> None:
    import paykit.gateways
    import paykit.gateways.base
    import paykit.gateways.stripe
    import paykit.stripe.billing
    import paykit.stripe.gateway
    import paykit.stripe.handlers
    import paykit.stripe.webhooks
    import paykit.webhooks

    assert paykit.gateways.StripeGateway is paykit.stripe.gateway.StripeGateway
    assert paykit.gateways.stripe.StripeGateway is paykit.stripe.StripeGateway
    assert paykit.gateways.stripe.STRIPE_API_VERSION == paykit.stripe.STRIPE_API_VERSION
    sub_reader = paykit.stripe.billing.subscription_from_stripe
    assert paykit.gateways.subscription_from_stripe is sub_reader
    assert paykit.gateways.base.subscription_from_stripe is sub_reader  # type: ignore[attr-defined]
    assert paykit.webhooks.HANDLERS is paykit.stripe.handlers.HANDLERS
    for name in paykit.webhooks.__all__:
        assert getattr(paykit.webhooks, name) is not None
    assert paykit.webhooks.handle_webhook is paykit.stripe.webhooks.handle_webhook
    for name in paykit.stripe.__all__:
        assert getattr(paykit.stripe, name) is not None
    with pytest.raises(AttributeError):
        paykit.stripe.nothing_here  # noqa: B018


def test_modules_and_functions_stay_small() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 600, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                assert node.end_lineno is not None
                assert node.end_lineno - first < 80, f"{path.name}:{node.name}"


def test_only_the_gateway_its_client_and_its_error_table_import_the_sdk() -> None:
    importers = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(
            isinstance(node, ast.Import) and any(a.name == "stripe" for a in node.names)
            for node in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert importers == ["async_gateway.py", "client.py", "errors.py", "gateway.py"]


# --------------------------------------------------------------------- reading Stripe objects


def test_invoice_from_stripes_example_invoice() -> None:
    raw = fixture("invoice")
    raw["parent"] = {"subscription_details": {"subscription": "sub_1"}}
    invoice = invoice_from_stripe(raw)
    assert invoice.id == raw["id"]
    assert invoice.subscription_id == "sub_1"
    assert invoice.status is GatewayInvoiceStatus(raw["status"])
    assert invoice.currency == raw["currency"].upper()
    assert invoice.total_minor == raw["total"]
    assert invoice.period_start <= invoice.period_end
    assert invoice.raw["id"] == raw["id"]


def test_an_invoice_of_no_subscription_is_not_read_further() -> None:
    raw = {"object": "invoice", "id": "in_1", "status": "nonsense"}
    assert read_invoice(raw) == (None, None)
    with pytest.raises(ValidationError, match="nonsense"):
        read_invoice({**raw, "subscription": "sub_1"})


def test_unknown_statuses_are_refused_never_guessed() -> None:
    raw = fixture("subscription")
    raw["status"] = "zombie"
    with pytest.raises(ValidationError, match="zombie"):
        read_subscription(raw)


@pytest.mark.parametrize("field", ["trial_end", "canceled_at", "cancel_at"])
@pytest.mark.parametrize("value", [67_768_036_191_676_800, -(10**15), 2**63])
def test_a_timestamp_beyond_any_date_is_refused_not_a_crash(field: str, value: int) -> None:
    raw = fixture("subscription")
    raw[field] = value
    with pytest.raises(ValidationError, match="out of range"):
        read_subscription(raw)


def test_a_subscription_event_gives_its_created_time() -> None:
    raw = fixture("subscription")
    event = {"object": "event", "id": "evt_1", "created": 1_700_000_000, "data": {"object": raw}}
    sub, created = read_subscription(event)
    assert sub.id == raw["id"]
    assert sub.status in set(GatewaySubscriptionStatus)
    assert created == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert len(sub.items) == len(raw["items"]["data"])


def test_price_product_and_refund_from_stripes_examples() -> None:
    price = price_from_stripe(fixture("price"))
    assert price.currency == price.raw["currency"].upper()
    assert price.unit_amount_minor == price.raw["unit_amount"]
    product = product_from_stripe(fixture("product"))
    assert product.name == product.raw["name"]
    refund = refund_from_stripe({**fixture("refund"), "status": "requires_action"})
    assert refund.status is GatewayRefundStatus.PENDING
