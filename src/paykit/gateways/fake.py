"""``FakeGateway`` (kept for existing imports): see :mod:`paykit.testing.fake`.

The fake lives in ``paykit.testing`` (a layer above the gateways); this module
re-exports it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit.testing.fake import FakeGateway

__all__ = ["FakeGateway"]


def __getattr__(name: str) -> Any:
    if name == "FakeGateway":
        from paykit.testing.fake import FakeGateway

        return FakeGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
