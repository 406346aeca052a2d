from __future__ import annotations

import json

import pytest

from paykit import errors


def _all_error_classes() -> list[type[errors.PaykitError]]:
    exported = (getattr(errors, name) for name in errors.__all__)
    return [obj for obj in exported if isinstance(obj, type) and issubclass(obj, Exception)]


def test_every_exported_error_is_a_paykit_error() -> None:
    for cls in _all_error_classes():
        assert issubclass(cls, errors.PaykitError)


def test_codes_are_stable_and_unambiguous() -> None:
    # Two classes share a code only when both are subclasses of the code's
    # registered class, so an adapter can switch on .code and `except` that class.
    classes = _all_error_classes()
    for a in classes:
        for b in classes:
            if a is not b and a.default_code == b.default_code:
                owner = errors.ERROR_CODES[a.default_code].error
                assert issubclass(a, owner), (a, owner)
                assert issubclass(b, owner), (b, owner)
    for cls in classes:
        assert cls.default_code == cls.default_code.lower()
        assert " " not in cls.default_code


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_each_error_has_status_and_serializes(cls: type[errors.PaykitError]) -> None:
    exc = cls("something went wrong")
    assert 400 <= exc.http_status <= 599
    body = exc.to_dict()
    assert body["error"]["code"] == exc.code == cls.default_code
    json.dumps(body)


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    assert errors.__doc__ is not None
    for cls in _all_error_classes():
        assert cls.__name__ in errors.__doc__
        assert cls.default_code in errors.__doc__


def test_code_override_and_details() -> None:
    exc = errors.DiscountError("expired", code="discount_expired", details={"code_used": "X"})
    assert exc.code == "discount_expired"
    assert exc.details == {"code_used": "X"}
    assert isinstance(exc, errors.PaykitError)


def test_payment_declined_carries_decline_code() -> None:
    exc = errors.PaymentDeclined("card declined", decline_code="insufficient_funds")
    assert exc.decline_code == "insufficient_funds"
    assert exc.to_dict()["error"]["decline_code"] == "insufficient_funds"
    assert exc.http_status == 402


def test_gateway_unavailable_is_retryable_gateway_error() -> None:
    exc = errors.GatewayUnavailable("rate limited", request_id="req_123")
    assert isinstance(exc, errors.GatewayError)
    assert exc.retryable is True
    assert errors.GatewayError("bad").retryable is False
    assert exc.details["request_id"] == "req_123"
