"""Turning pydantic's errors into paykit's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from paykit.errors import ValidationError

__all__ = ["StrictModel", "check_text", "validate"]

M = TypeVar("M", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """Base of paykit's input models: unknown fields are refused, strings are stripped."""

    model_config = pydantic.ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, allow_inf_nan=False
    )

    @pydantic.field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store NUL in text or JSON; refuse it here, before
        # any gateway call, rather than fail on the INSERT after one.
        if _has_nul(value):
            raise ValueError("text must not contain NUL characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_nul(item) for item in value)
    return False


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate ``data`` with ``model``; a failure is a paykit ``ValidationError``.

    The error's ``errors`` list holds pydantic's location, message and type of
    each problem, without echoing the input values (they may be personal data).
    """
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        first = errors[0]
        where = ".".join(first["loc"]) or "input"
        raise ValidationError(f"invalid {where}: {first['msg']}", errors=errors) from None


def check_text(value: object, name: str, *, max_length: int = 255) -> str:
    """A non-empty string argument without NUL characters, at most ``max_length`` long.

    For the plain ``str`` arguments services take outside a pydantic model
    (ids, idempotency keys): a wrong type is a ``ValidationError``, not a
    ``TypeError`` or a driver error.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string", details={"param": name})
    if len(value) > max_length or "\x00" in value:
        raise ValidationError(
            f"{name} must be at most {max_length} characters, without NUL",
            details={"param": name},
        )
    return value
