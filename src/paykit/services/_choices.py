"""A caller's choice from an enum, given as the member or its name in any case."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from paykit.errors import ValidationError

__all__ = ["member"]

_E = TypeVar("_E", bound=Enum)


def member(kind: type[_E], value: object, what: str, **error: Any) -> _E:
    """``kind(value.upper())``; anything else is ``ValidationError("unknown <what> ...")``.

    ``error`` goes to the ``ValidationError`` (a ``code``, ``details``), so each
    caller keeps the code and details its API documents.
    """
    try:
        return kind(str(value).upper())
    except ValueError:
        raise ValidationError(f"unknown {what} {value!r}", **error) from None
