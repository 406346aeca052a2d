"""What an import costs: ``import paykit`` is lazy, and the pure layers stay pure.

Each check runs in a fresh interpreter, since this test process has imported
everything long ago.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import paykit

HEAVY = ("sqlalchemy", "alembic", "pydantic", "bcrypt", "cryptography", "stripe")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def _paykit(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] == "paykit"}


def test_import_paykit_loads_no_submodule() -> None:
    loaded = _loaded_after("import paykit")
    assert _heavy(loaded) == []
    assert _paykit(loaded) == {"paykit"}


def test_money_loads_no_database_layer() -> None:
    loaded = _loaded_after("import paykit.money")
    assert _heavy(loaded) == []
    assert _paykit(loaded) == {
        "paykit",
        "paykit._arguments",
        "paykit._error_codes",
        "paykit.errors",
        "paykit.money",
    }


def test_pricing_loads_no_database_layer() -> None:
    # Calling it too: checked() and check_fields() resolve annotations on first use
    # (DiscountRule.type once pulled in paykit.models, and with it SQLAlchemy).
    loaded = _loaded_after(
        "import paykit.pricing as p\n"
        "from datetime import UTC, datetime\n"
        "from decimal import Decimal as D\n"
        "line = p.LineInput(key=1, product_id='a', unit_price=D('9.99'), quantity=2,"
        " currency='USD', tax_rate=D('0.08'))\n"
        "rule = p.DiscountRule(code='TEN', type='PERCENTAGE', value=D('10'))\n"
        "order = p.price_order([line], discount=rule, usage=p.DiscountUsageCounts(),"
        " now=datetime.now(UTC))\n"
        "assert order.total == D('19.42'), order.total\n"
        "assert order.refund_split().amount == order.total"
    )
    assert _heavy(loaded) == []
    assert not {"paykit.models", "paykit.db", "paykit.services"} & _paykit(loaded)


def test_errors_load_nothing_heavy() -> None:
    loaded = _loaded_after("import paykit.errors")
    assert _heavy(loaded) == []
    assert _paykit(loaded) == {"paykit", "paykit._error_codes", "paykit.errors"}


def test_a_service_name_loads_the_services_on_first_use() -> None:
    # The counterpart: the lazy names really do load what they name.
    loaded = _loaded_after("import paykit\npaykit.place_order")
    assert {"sqlalchemy.orm", "paykit.services.orders", "paykit.models"} <= loaded
    assert "stripe" not in loaded


@pytest.mark.parametrize("name", ["services", "security", "gateways", "schemas"])
def test_subpackages_are_still_attributes_of_paykit(name: str) -> None:
    # Before the lazy namespace, `import paykit` imported these, and hosts read them so.
    loaded = _loaded_after(f"import paykit\nassert paykit.{name}.__name__ == 'paykit.{name}'")
    assert f"paykit.{name}" in loaded


def test_lazy_names_match_the_type_checking_block() -> None:
    # The TYPE_CHECKING imports are what mypy and IDEs see; _EXPORTS (read from
    # them by paykit._exports) is what runs. Each is an explicit re-export.
    tree = ast.parse(Path(paykit.__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    static: dict[str, tuple[str, ...]] = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            assert all(alias.asname == alias.name for alias in node.names), ast.unparse(node)
        if isinstance(node, ast.ImportFrom) and node.module != "paykit":
            assert node.module is not None
            names = tuple(alias.name for alias in node.names)
            static[node.module] = static.get(node.module, ()) + names
    assert static == paykit._EXPORTS
    exported = {name for names in static.values() for name in names}
    modules = {"errors", "models", "webhooks", "__version__"}
    assert exported | modules == set(paykit.__all__)


def test_dir_lists_every_export() -> None:
    assert set(paykit.__all__) <= set(dir(paykit))


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        paykit.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(paykit, "_no_such_private_name")


@pytest.mark.parametrize("package", ["paykit", "paykit.notifications"])
def test_lazy_registry_is_the_type_checking_block(package: str) -> None:
    # paykit._exports reads the block: each name resolves from the module it names,
    # and __all__ is every name of the block, once, in RUF022 order.
    import importlib

    from paykit._exports import public_order, registry

    module = importlib.import_module(package)
    found = registry(package)
    assert found.home, package
    for name, home in found.home.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name), name
    assert module.__all__ == public_order(module.__all__)
    assert len(module.__all__) == len(set(module.__all__))
    assert set(module.__all__) == {*found.home, *found.submodules, *found.declared}
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", ["paykit", "paykit.notifications"])
def test_registry_is_read_from_byte_code_when_the_source_is_not_installed(package: str) -> None:
    # A byte-code-only install (PyInstaller, an image with the .py files removed)
    # has no source to parse: the compiled block gives the same registry.
    import importlib

    from paykit._exports import registry, registry_from_code

    spec = importlib.import_module(package).__spec__
    assert spec is not None
    assert spec.loader is not None
    code = spec.loader.get_code(package)  # type: ignore[attr-defined]
    assert registry_from_code(code, package) == registry(package)


def test_a_source_less_paykit_still_resolves_its_names(tmp_path: Path) -> None:
    # The whole package compiled to legacy .pyc files beside no source, in a fresh
    # interpreter: names still resolve and __all__ is the same.
    import compileall
    import shutil
    import subprocess
    import sys

    import paykit as installed

    copy = tmp_path / "paykit"
    shutil.copytree(Path(installed.__file__).parent, copy)
    assert compileall.compile_dir(copy, quiet=1, legacy=True)
    for source in copy.rglob("*.py"):
        source.unlink()
    script = (
        "import paykit, sys; assert paykit.__file__.endswith('.pyc'), paykit.__file__; "
        "print(paykit.place_order.__module__, len(paykit.__all__), "
        "'paykit.services' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    module, count, _ = done.stdout.split()
    assert (module, int(count)) == (installed.place_order.__module__, len(installed.__all__))


def test_public_order_is_ruff_s_rule_022() -> None:
    from paykit._exports import public_order

    names = ["verify_email", "Action", "__version__", "POLICY", "DEFAULT_CONFIG", "Clock", "arpu"]
    assert public_order(names) == [
        "DEFAULT_CONFIG",
        "POLICY",
        "Action",
        "Clock",
        "__version__",
        "arpu",
        "verify_email",
    ]
