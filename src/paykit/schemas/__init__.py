"""pydantic v2 models for service input."""

from paykit.schemas.base import validate
from paykit.schemas.orders import Address, OrderLine, PlaceOrderInput

__all__ = ["Address", "OrderLine", "PlaceOrderInput", "validate"]
