"""Who is calling, and from where: passed by the host to services that need it."""

from __future__ import annotations

from dataclasses import dataclass

from paykit._arguments import check_fields

__all__ = ["RequestContext"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The request a service call came from, recorded in the audit log."""

    ip_address: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
