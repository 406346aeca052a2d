"""A short run of benchmarks/soak.py: mixed traffic with gateway faults, then the books.

The full run (5 minutes, 8 workers) is ``nox -s soak``; this one runs 15 s with
4 workers on PostgreSQL and asserts what the full run asserts: no unexpected
error, ``paykit check`` clean, the gateway's ledger equal to the database's to
the cent, and faults actually injected and survived. A second, tiny run
tampers with the gateway's ledger to show that the comparison can fail.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.conftest import pg_url, require_postgres

SOAK_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    require_postgres()
    spec = importlib.util.spec_from_file_location("paykit_soak_benchmark", SOAK_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    module.PG_URL = pg_url()
    return module


@pytest.mark.slow
def test_short_soak_passes_with_faults(soak: ModuleType) -> None:
    figures: dict[str, Any] = soak.run(seconds=15, workers=4, seed=7)
    assert figures["errors"] == [], figures["errors"]
    assert figures["check"] == "ok", figures["check"]
    assert figures["ledger"] == "agrees to the cent", figures["ledger"]
    assert figures["ok"]
    injected, survived = figures["faults_injected"], figures["faults_survived"]
    for kind in ("5xx", "timeout", "decline"):
        assert injected.get(kind, 0) > 0, (kind, injected)
        assert survived.get(kind, 0) == injected[kind], (kind, injected, survived)
    paid = figures["per_operation"]["checkout"]["outcomes"].get("paid", 0)
    assert paid > 0
    assert figures["rows"]["refunds"] > 0
    assert figures["rows"]["webhook_events"] > 0


def test_the_ledger_comparison_finds_a_charge_without_an_order(soak: ModuleType) -> None:
    def charge_behind_paykits_back(shop: Any) -> None:
        shop.gateway.enabled = False
        shop.gateway.create_payment(
            amount_minor=1234,
            customer_id=None,
            currency="USD",
            payment_method_id="pm_card_visa",
            confirm=True,
            metadata={"paykit_reference": "paykit:order:stray"},
            idempotency_key="stray",
        )

    figures: dict[str, Any] = soak.run(
        seconds=1, workers=2, seed=3, tamper=charge_behind_paykits_back
    )
    assert not figures["ok"]
    assert figures["ledger_problems"] == 1
    assert "1234 captured, no order" in figures["ledger"][0]
