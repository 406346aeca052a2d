"""Turning pydantic's errors into paykit's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from paykit.errors import ValidationError

__all__ = ["StrictModel", "validate"]

M = TypeVar("M", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """Base of paykit's input models: unknown fields are refused, strings are stripped."""

    model_config = pydantic.ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, allow_inf_nan=False
    )


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
