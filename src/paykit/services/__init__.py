"""paykit's business layer: functions that take a session, a gateway and a clock."""

from paykit.services.seed import SeedResult, seed

__all__ = ["SeedResult", "seed"]
