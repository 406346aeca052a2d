"""Hypothesis profiles for the property suite.

``ci`` runs 500 examples of every property with no deadline (shared CI
machines stall; a slow example is not a failing one). ``dev`` is the quick
local default. ``HYPOTHESIS_PROFILE`` picks a profile by name; otherwise
``ci`` is used whenever the ``CI`` environment variable is set.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)

settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
