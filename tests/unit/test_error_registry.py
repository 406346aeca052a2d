"""Every code paykit raises is registered, belongs to one class, and is documented.

The source is scanned, not trusted: every ``code=`` literal given to an error
class, every literal handed to a helper that forwards its ``code`` parameter to
an error class, and the ``default_code`` of every class must be in
:data:`paykit.errors.ERROR_CODES`, and the class raised must be the code's
registered class or a subclass of it (so ``except`` on the registered class
catches every raise of the code).
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import paykit
from paykit import errors

SRC = Path(paykit.__file__).parent
ROOT = SRC.parent.parent
ERROR_CLASSES: dict[str, type[errors.PaykitError]] = {
    name: obj
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, errors.PaykitError)
}

# Calls that pass a code computed at run time: (file, function).
DYNAMIC_CODES: set[tuple[str, str]] = {
    ("cli.py", "_admin_password"),  # re-raises the password policy's own ValidationError code
}


@dataclass(frozen=True)
class Raise:
    where: str
    cls: str
    code: str


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _code_helpers(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """Functions that hand their ``code`` parameter to an error class: name -> (index, class)."""
    helpers: dict[str, tuple[int, str]] = {}
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        if "code" not in params:
            continue
        for call in ast.walk(fn):
            if isinstance(call, ast.Call) and _callee(call) in ERROR_CLASSES:
                for kw in call.keywords:
                    if (
                        kw.arg == "code"
                        and isinstance(kw.value, ast.Name)
                        and kw.value.id == "code"
                    ):
                        helpers[fn.name] = (params.index("code"), _callee(call) or "")
    return helpers


def _enclosing_functions(tree: ast.Module) -> dict[int, str]:
    owner: dict[int, str] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                owner.setdefault(id(node), fn.name)
    # ast.walk is breadth first, so inner functions overwrite nothing: take innermost.
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                owner[id(node)] = fn.name
    return owner


def scan() -> tuple[list[Raise], list[str]]:
    """Every (class, literal code) raised in the source, and calls with a dynamic code."""
    found: list[Raise] = []
    dynamic: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        helpers = _code_helpers(tree)
        owner = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _callee(node)
            where = f"{rel}:{node.lineno}"
            if name in ERROR_CLASSES:
                for kw in node.keywords:
                    if kw.arg != "code" or (
                        isinstance(kw.value, ast.Name)
                        and kw.value.id == "code"
                        and owner.get(id(node)) in helpers
                    ):
                        continue
                    if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        found.append(Raise(where, name, kw.value.value))
                    elif (rel, owner.get(id(node), "")) not in DYNAMIC_CODES:
                        dynamic.append(f"{where} {name}(code={ast.unparse(kw.value)})")
            elif name in helpers:
                index, cls = helpers[name]
                if len(node.args) > index:
                    arg = node.args[index]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.append(Raise(where, cls, arg.value))
                    elif (rel, owner.get(id(node), "")) not in DYNAMIC_CODES:
                        dynamic.append(f"{where} {name}({ast.unparse(arg)})")
    return found, dynamic


def test_the_scanner_finds_raises() -> None:
    # Guards the scan itself: if it silently found nothing, every check would pass.
    found, _ = scan()
    codes = {r.code for r in found}
    assert {"discount_expired", "order_not_paid", "gateway_timeout", "invalid_text"} <= codes
    assert any(r.cls == "DiscountError" and r.where.startswith("pricing/") for r in found)


def test_every_raised_code_is_registered_to_a_class_that_catches_it() -> None:
    found, dynamic = scan()
    assert dynamic == [], "a code computed at run time: make it a literal, or list it"
    problems = []
    for r in found:
        entry = errors.ERROR_CODES.get(r.code)
        if entry is None:
            problems.append(f"{r.where}: {r.cls}(code={r.code!r}) is not registered")
        elif not issubclass(ERROR_CLASSES[r.cls], entry.error):
            problems.append(
                f"{r.where}: {r.cls}(code={r.code!r}) is not caught by "
                f"`except {entry.error.__name__}`"
            )
    assert problems == []


def test_every_default_code_is_registered_to_its_class_or_a_base() -> None:
    for cls in ERROR_CLASSES.values():
        entry = errors.ERROR_CODES.get(cls.default_code)
        assert entry is not None, cls
        assert issubclass(cls, entry.error), cls


def test_registry_entries_are_well_formed() -> None:
    for code, entry in errors.ERROR_CODES.items():
        assert entry.code == code
        assert code.replace("_", "").isalnum(), code
        assert code == code.lower(), code
        assert entry.description.strip(), code
        assert entry.http_status == entry.error.http_status
        assert errors.is_registered(code)
    assert not errors.is_registered("no_such_code")


def test_registered_codes_are_all_raised_somewhere() -> None:
    # A registered code nobody raises is a stale promise in the docs.
    found, _ = scan()
    raised = {r.code for r in found} | {c.default_code for c in ERROR_CLASSES.values()}
    assert set(errors.ERROR_CODES) - raised == set()


def test_docs_list_is_generated_from_the_registry() -> None:
    committed = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert committed == errors.render_markdown(), "regenerate docs/errors.md (see its header)"
    for entry in errors.ERROR_CODES.values():
        assert f"| `{entry.code}` | `{entry.error.__name__}` |" in committed


def test_readme_links_the_error_list() -> None:
    assert "docs/errors.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("code", "catch"),
    [
        ("invalid_amount", errors.InvalidAmount),
        ("currency_mismatch", errors.CurrencyMismatch),
        ("price_not_recurring", errors.ValidationError),
    ],
)
def test_a_code_is_caught_by_its_registered_class(
    code: str, catch: type[errors.PaykitError]
) -> None:
    assert errors.ERROR_CODES[code].error is catch


def test_the_registry_imports_nothing_heavy() -> None:
    # errors.py must not pull in SQLAlchemy, pydantic or stripe, nor any other
    # paykit module than its code table: adapters import it on hot paths.
    code = (
        "import sys, paykit.errors as e\n"
        "assert e.ERROR_CODES['invalid_amount'].error is e.InvalidAmount\n"
        "heavy = {'sqlalchemy', 'pydantic', 'stripe', 'bcrypt', 'cryptography'}"
        " & set(sys.modules)\n"
        "print(sorted(heavy), sorted(m for m in sys.modules if m.startswith('paykit')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "[]",
        "['paykit',",
        "'paykit._error_codes',",
        "'paykit.errors']",
    ]


def test_the_code_table_names_error_classes() -> None:
    from paykit import _error_codes

    assert {row[0] for row in _error_codes.CODES} <= set(ERROR_CLASSES)
    assert len(_error_codes.CODES) == len(errors.ERROR_CODES)
