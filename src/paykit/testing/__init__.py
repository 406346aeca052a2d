"""Tools for testing an application that embeds paykit, and for testing gateways.

Everything here is public and documented in ``docs/testing.md``::

    from paykit.testing import (
        FakeGateway,            # an in-memory PaymentGateway (docs/gateways.md)
        FrozenClock,            # a clock that moves only when told to
        FAST_PASSWORD_HASHER,   # bcrypt at cost 4, for the user services in tests
        stripe_event,           # a Stripe event dict built from Stripe's example objects
        stripe_object,          # one of Stripe's example objects, with overrides
        sign_webhook,           # the Stripe-Signature header Stripe would send
        signed_webhook,         # an event's body and header, ready to deliver
        GatewayContract,        # the gateway contract suite (needs pytest)
    )

``GatewayContract`` (and its module, ``paykit.testing.gateway_contract``) is
loaded on first use and needs pytest, the ``test`` extra; the other names
need nothing beyond paykit's own dependencies, so ``import paykit.testing``
works in an environment without pytest.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from paykit.clock import FrozenClock
from paykit.testing._passwords import FAST_PASSWORD_HASHER
from paykit.testing._webhooks import (
    STRIPE_API_VERSION,
    STRIPE_EVENT_OBJECTS,
    STRIPE_FIXTURE_NAMES,
    sign_webhook,
    signed_webhook,
    stripe_event,
    stripe_object,
)
from paykit.testing.fake import FakeGateway

if TYPE_CHECKING:
    from paykit.testing.gateway_contract import GatewayContract

__all__ = [
    "FAST_PASSWORD_HASHER",
    "STRIPE_API_VERSION",
    "STRIPE_EVENT_OBJECTS",
    "STRIPE_FIXTURE_NAMES",
    "FakeGateway",
    "FrozenClock",
    "GatewayContract",
    "sign_webhook",
    "signed_webhook",
    "stripe_event",
    "stripe_object",
]

# Under pytest, have it rewrite the contract suite's asserts (as it does for
# test modules), so a failing contract check shows the values it compared.
# This must happen before the module is first imported, hence here.
_pytest = sys.modules.get("pytest")
if _pytest is not None and hasattr(_pytest, "register_assert_rewrite"):
    _pytest.register_assert_rewrite("paykit.testing.gateway_contract", "paykit.testing.contract")
del _pytest


def __getattr__(name: str) -> Any:
    # The contract suite imports pytest, which a production install may not have.
    if name == "GatewayContract":
        try:
            from paykit.testing.gateway_contract import GatewayContract
        except ModuleNotFoundError as exc:
            if exc.name != "pytest":
                raise
            raise ImportError(
                "paykit.testing.GatewayContract needs pytest: pip install 'paykit[test]'",
                name=name,
            ) from exc
        return GatewayContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
