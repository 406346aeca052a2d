"""The web adapters' neutral core without a server: problem documents and body parsing."""

from __future__ import annotations

import pytest

from paykit import errors
from paykit.contrib import Request, problem
from paykit.contrib._http import _json_object


def test_a_problem_has_rfc_9457_members_and_the_errors_details() -> None:
    exc = errors.RefundExceedsPaid("too much", details={"order_id": "o1", "status": "ignored"})
    answer = problem(exc)
    assert answer.status == 422
    assert answer.content_type == "application/problem+json"
    assert answer.body == {
        "type": "urn:paykit:error:refund_exceeds_paid",
        "title": "Refund exceeds paid",
        "status": 422,  # a detail never overwrites a problem member
        "detail": "too much",
        "code": "refund_exceeds_paid",
        "order_id": "o1",
    }


@pytest.mark.parametrize(
    ("code", "status"), [("invalid_json", 400), ("request_too_large", 413), ("invalid_value", 422)]
)
def test_the_adapters_own_codes_use_http_statuses(code: str, status: int) -> None:
    assert problem(errors.ValidationError("no", code=code)).status == status


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'"text"', b"1", b"{", b"\xff", b'{"a": NaN}', b'{"a": Infinity}', b"[" * 100_000],
)
def test_only_a_json_object_is_a_body(body: bytes) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        _json_object(body)
    assert caught.value.code == "invalid_json"


def test_numbers_are_read_as_decimals_and_headers_match_any_case() -> None:
    assert str(_json_object(b'{"amount": 10.10}')["amount"]) == "10.10"
    assert Request("GET", headers={"idempotency-KEY": "k"}).header("Idempotency-Key") == "k"
