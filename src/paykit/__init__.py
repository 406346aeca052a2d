"""paykit: a complete SaaS payment back end as a Python library."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from paykit import errors
from paykit.clock import Clock, FrozenClock, SystemClock
from paykit.db import create_engine
from paykit.errors import PaykitError
from paykit.migrator import current_revision, downgrade, head_revision, migrate

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
    "create_engine",
    "current_revision",
    "downgrade",
    "errors",
    "head_revision",
    "migrate",
]
