"""A caller's input: its pydantic model or a plain mapping; a free-text field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import pydantic

from paykit.errors import ValidationError
from paykit.schemas.base import validate

__all__ = ["parsed", "text_field"]

_M = TypeVar("_M", bound=pydantic.BaseModel)


def parsed(model: type[_M], data: _M | Mapping[str, Any]) -> _M:
    """``data`` itself if it already is a ``model``; a mapping is validated with
    :func:`paykit.schemas.base.validate` (a failure is a paykit ``ValidationError``)."""
    if isinstance(data, model):
        return data
    return validate(model, cast("Mapping[str, Any]", data))


def text_field(value: str, field: str, limit: int) -> str:
    """``value`` without surrounding whitespace: 1 to ``limit`` characters and no NUL,
    else ``ValidationError`` (``invalid_text``) naming ``field``."""
    text = value.strip()
    if not text or len(text) > limit or "\x00" in text:
        raise ValidationError(
            f"{field} must be 1-{limit} characters", code="invalid_text", details={"field": field}
        )
    return text
