"""paykit: a complete SaaS payment back end as a Python library."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from paykit import errors
from paykit.clock import Clock, FrozenClock, SystemClock
from paykit.errors import PaykitError

try:
    __version__ = version("paykit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    from paykit._version import __version__

__all__ = [
    "Clock",
    "FrozenClock",
    "PaykitError",
    "SystemClock",
    "__version__",
    "errors",
]
