"""A host installs paykit's wheel and runs the gateway contract suite against its own gateway.

This builds the wheel (``pip wheel --no-deps``), installs it into a fresh
virtualenv, writes a scratch host project with a tiny gateway of its own, and
runs pytest there. The fresh venv gets paykit only from the wheel; its
dependencies (SQLAlchemy, stripe, pytest, ...) come from the running
environment through a ``.pth`` line placed after the venv's own
site-packages, which saves installing them again. The editable paykit of the
running environment is not visible there (a ``.pth`` line does not process the
``.pth`` files of the directory it adds), and a test in the host checks that.

It takes about 15 s here (the wheel build dominates), so it runs in the normal
suite, marked ``slow``.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

GATEWAY = '''
"""A host's own gateway: wraps FakeGateway and records what it was asked."""

from __future__ import annotations

import uuid
from typing import Any

from paykit.gateways import FakeGateway


class RecordingGateway:
    """Delegates every Protocol call to a FakeGateway and counts the calls."""

    def __init__(self, inner: FakeGateway) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return target(*args, **kwargs)

        return call


class ForgetfulGateway(RecordingGateway):
    """Broken on purpose: drops the caller's idempotency key on payments."""

    def create_payment(self, **kwargs: Any) -> Any:
        kwargs["idempotency_key"] = uuid.uuid4().hex
        return self.inner.create_payment(**kwargs)
'''

HOST_TESTS = """
from __future__ import annotations

from pathlib import Path

import pytest

import paykit
from paykit.testing import FakeGateway, FrozenClock, GatewayContract
from myhost.gateway import ForgetfulGateway, RecordingGateway


def test_paykit_comes_from_the_wheel() -> None:
    assert Path(paykit.__file__).resolve().is_relative_to(Path({site_packages!r}).resolve())


class TestRecordingGatewayContract(GatewayContract):
    @pytest.fixture
    def gateway(self) -> RecordingGateway:
        return RecordingGateway(FakeGateway(clock=FrozenClock()))

    @pytest.fixture
    def recurring_price_id(self, gateway: RecordingGateway) -> str:
        return gateway.inner.add_price(unit_amount=2000, currency="usd", interval="month")

    def test_the_host_gateway_is_the_one_called(self, gateway: RecordingGateway) -> None:
        gateway.create_customer(email="a@example.com", idempotency_key="k")
        assert gateway.calls == ["create_customer"]


class TestForgetfulGatewayContract(GatewayContract):
    @pytest.fixture
    def gateway(self) -> ForgetfulGateway:
        return ForgetfulGateway(FakeGateway(clock=FrozenClock()))

    @pytest.fixture
    def recurring_price_id(self, gateway: ForgetfulGateway) -> str:
        return gateway.inner.add_price(unit_amount=2000, currency="usd", interval="month")
"""


@dataclass(frozen=True)
class Outcome:
    name: str
    failed: bool
    message: str


@dataclass(frozen=True)
class HostRun:
    wheel: Path
    outcomes: dict[str, Outcome]
    stdout: str

    def of(self, class_name: str) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.name.startswith(f"{class_name}::")]


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory) -> HostRun:
    tmp = tmp_path_factory.mktemp("host")
    dist = tmp / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT)
    (wheel,) = dist.glob("paykit-*.whl")

    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    site_packages = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    # The dependencies, from the running environment, after the venv's own packages.
    (site_packages / "zz_paykit_test_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in site.getsitepackages())
    )

    host = tmp / "host"
    (host / "src" / "myhost").mkdir(parents=True)
    (host / "tests").mkdir()
    (host / "src" / "myhost" / "__init__.py").write_text('"""A scratch host."""\n')
    (host / "src" / "myhost" / "gateway.py").write_text(textwrap.dedent(GATEWAY))
    (host / "tests" / "test_contract.py").write_text(
        HOST_TESTS.replace("{site_packages!r}", repr(str(site_packages)))
    )
    (host / "pytest.ini").write_text("[pytest]\npythonpath = src\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    report = tmp / "report.xml"
    result = subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"],
        cwd=host,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        failure = case.find("failure")
        error = case.find("error")
        assert error is None, f"{name}: {error.get('message')}"
        skipped = case.find("skipped")
        # Only the contract's checks of optional features may skip, and only for
        # the reason they document (the host's gateway gives no invoice maker).
        assert skipped is None or skipped.get("message", "").endswith(OPTIONAL_SKIP), name
        outcomes[name] = Outcome(
            name, failure is not None, "" if failure is None else failure.get("message", "")
        )
    return HostRun(wheel, outcomes, result.stdout)


OPTIONAL_SKIP = "provide a make_open_invoice fixture to run the invoice checks"


def test_wheel_contents(host_run: HostRun) -> None:
    names = set(zipfile.ZipFile(host_run.wheel).namelist())
    for path in (
        "paykit/py.typed",
        "paykit/testing/__init__.py",
        "paykit/testing/gateway_contract.py",
        "paykit/testing/stripe_fixtures/README.md",
        "paykit/testing/stripe_fixtures/invoice.json",
        "paykit/testing/stripe_fixtures/event.json",
    ):
        assert path in names
    assert not any(name.startswith("tests/") for name in names)


def test_paykit_is_imported_from_the_wheel(host_run: HostRun) -> None:
    assert not host_run.outcomes["test_contract::test_paykit_comes_from_the_wheel"].failed


def test_the_contract_passes_against_the_hosts_gateway(host_run: HostRun) -> None:
    outcomes = host_run.of("TestRecordingGatewayContract")
    assert len(outcomes) > 80, host_run.stdout
    assert [o.name for o in outcomes if o.failed] == []
    assert any(o.name.endswith("::test_the_host_gateway_is_the_one_called") for o in outcomes)


def test_the_contract_fails_a_gateway_that_drops_idempotency_keys(host_run: HostRun) -> None:
    failed = {o.name.split("::", 1)[1]: o for o in host_run.of("TestForgetfulGatewayContract")}
    failed = {name: o for name, o in failed.items() if o.failed}
    assert "test_same_key_same_params_returns_the_same_payment" in failed
    assert "test_declined_request_replays_the_decline" in failed
    # Checks that do not depend on payment keys still pass for it.
    passed = {
        o.name.split("::", 1)[1]
        for o in host_run.of("TestForgetfulGatewayContract")
        if not o.failed
    }
    assert "test_create_customer_replays_same_key" in passed
    # pytest rewrote the contract's asserts: a failure shows what was compared.
    message = failed["test_same_key_same_params_returns_the_same_payment"].message
    assert "assert GatewayPaymen" in message
    assert "differing attribute" in message
