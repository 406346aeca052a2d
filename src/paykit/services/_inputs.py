"""A caller's input, given as its pydantic model or as a plain mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import pydantic

from paykit.schemas.base import validate

__all__ = ["parsed"]

_M = TypeVar("_M", bound=pydantic.BaseModel)


def parsed(model: type[_M], data: _M | Mapping[str, Any]) -> _M:
    """``data`` itself if it already is a ``model``; a mapping is validated with
    :func:`paykit.schemas.base.validate` (a failure is a paykit ``ValidationError``)."""
    if isinstance(data, model):
        return data
    return validate(model, cast("Mapping[str, Any]", data))
