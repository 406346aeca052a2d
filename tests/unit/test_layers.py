"""The layers of docs/architecture.md: who may import whom, and no import cycle.

Imports are read from the source with ``ast``, including the ones deferred
into a function body (a deferred import hides a cycle from Python, not from a
reader). Only ``if TYPE_CHECKING:`` blocks are left out: they never run.
Each top-level module or package of ``paykit`` is one node (``models``,
``security``, ``services``, ``money``, ...); ``paykit/__init__.py`` is not
one (it re-exports everything, lazily).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import paykit
from paykit import _arguments

SRC = Path(paykit.__file__).parent

#: The layer of each top-level module: a module imports only from lower layers.
#: A new top-level module or package gets a line here (and in docs/architecture.md).
LAYERS: Mapping[str, int] = {
    module: layer
    for layer, modules in enumerate(
        [
            ("_error_codes", "_version", "_exports"),
            ("errors",),
            ("_arguments",),
            ("clock", "money", "context", "_encryption"),
            ("pricing",),
            ("models", "db", "notifications"),
            ("security", "gateways"),
            ("schemas", "migrator", "stripe"),
            ("migrations", "aio", "analytics"),
            ("services", "checks"),
            ("stripe_hooks",),
            ("webhooks", "demo", "testing", "_jobs"),
            ("cli", "contrib"),
        ]
    )
    for module in modules
}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (i for n in node.orelse for i in _imports_in(n))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _imports(node)


#: paykit.stripe is two nodes: its gateway side (the SDK client, Stripe JSON ->
#: neutral types) sits below the services; its webhook side calls them.
STRIPE_HOOKS = ("webhooks", "handlers", "inbox", "signature", "worker")

#: Kept import paths that re-export from above, loaded lazily on first use
#: (``paykit.gateways.StripeGateway`` from before paykit.stripe existed) and the
#: fake's Stripe-shaped records read through paykit.stripe: exempt, listed here.
SHIMS = {"gateways/__init__.py", "gateways/base.py", "gateways/stripe.py", "gateways/fake.py"}


def _node_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "paykit" or len(parts) < 2:
        return None
    if parts[1] == "stripe" and len(parts) > 2 and parts[2] in STRIPE_HOOKS:
        return "stripe_hooks"
    return parts[1]


def import_graph(src: Path) -> dict[str, dict[str, list[str]]]:
    """module -> imported module -> where (``path:line``), between top-level nodes."""
    nodes = {p.stem for p in src.glob("*.py") if p.stem != "__init__"} | {
        p.parent.name for p in src.glob("*/__init__.py")
    }
    nodes.add("stripe_hooks")
    graph: dict[str, dict[str, list[str]]] = {node: {} for node in nodes}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if rel.parts == ("__init__.py",) or rel.as_posix() in SHIMS:
            continue
        source = _node_of(".".join(["paykit", *rel.with_suffix("").parts])) or ""
        package = ["paykit", *rel.parts[:-1]]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                # `from paykit import errors` imports the submodule paykit.errors.
                targets = (
                    [f"paykit.{alias.name}" for alias in node.names]
                    if module == "paykit"
                    else [module]
                )
            for target in targets:
                node_name = _node_of(target)
                if node_name in nodes and node_name != source:
                    where = f"{rel.as_posix()}:{node.lineno}"
                    graph[source].setdefault(node_name, []).append(where)
    return graph


def cycles(graph: Mapping[str, Mapping[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_deferred_imports_and_skips_type_checking() -> None:
    # Guards the reader itself: if it found nothing, every test below would pass.
    tree = ast.parse(
        "if TYPE_CHECKING:\n    import paykit.services\n"
        "def f():\n    from paykit.models import User\n"
        "    if x:\n        from paykit import security\n"
    )
    assert [ast.unparse(n) for n in _imports(tree)] == [
        "from paykit.models import User",
        "from paykit import security",
    ]
    graph = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert set(import_graph(SRC)["services"]) >= {"models", "pricing", "security"}


def test_no_import_cycle_between_paykit_modules() -> None:
    graph = import_graph(SRC)
    problems = [
        f"{a} -> {b} ({', '.join(graph[a][b][:3])})"
        for component in cycles(graph)
        for a in component
        for b in graph[a]
        if b in component
    ]
    assert problems == [], "import cycle between paykit modules"


def test_every_module_has_a_layer() -> None:
    missing = sorted(set(import_graph(SRC)) - set(LAYERS))
    assert missing == [], "give each new top-level module a layer in LAYERS (and the docs)"


def test_imports_only_go_down_the_layers() -> None:
    graph = import_graph(SRC)
    problems = [
        f"{a} (layer {LAYERS[a]}) imports {b} (layer {LAYERS[b]}) at {', '.join(where[:3])}"
        for a, targets in graph.items()
        for b, where in targets.items()
        if a in LAYERS and b in LAYERS and LAYERS[b] >= LAYERS[a]
    ]
    assert problems == []


def test_architecture_doc_states_the_layers() -> None:
    doc = (SRC.parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    for module in LAYERS:
        if not module.startswith("_version"):
            assert f"`{module}`" in section, module


def _checked_signatures() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, namespace, parameter -> annotation) of every checked function and dataclass."""
    for info in pkgutil.walk_packages(paykit.__path__, "paykit."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != info.name:
                continue
            post_init = getattr(value, "__post_init__", None)
            if dataclasses.is_dataclass(value) and "check_fields" in getattr(
                getattr(post_init, "__code__", None), "co_names", ()
            ):
                fields = {f.name: f.type for f in dataclasses.fields(value)}
                yield f"{info.name}.{name}", vars(module), fields
            members = vars(value).values() if inspect.isclass(value) else ()
            for candidate in (value, *members):
                code = getattr(candidate, "__code__", None)
                if (
                    code is not None
                    and code.co_filename == _arguments.__file__
                    and hasattr(candidate, "__wrapped__")
                ):
                    func = inspect.unwrap(candidate)
                    params = inspect.signature(func).parameters.values()
                    annotations = {p.name: p.annotation for p in params}
                    yield f"{info.name}.{name}", func.__globals__, annotations


def test_every_paykit_type_in_a_checked_signature_resolves() -> None:
    # _arguments imports no paykit module (it is layer 2), so it finds a class
    # an annotation names only in the function's own module: one imported for
    # type checking only would leave the argument unchecked.
    unresolved = []
    seen = 0
    for where, space, hints in _checked_signatures():
        for param, annotation in hints.items():
            if annotation is inspect.Parameter.empty:
                continue
            seen += 1
            for name in _arguments._members(str(annotation)):
                if not name[:1].isupper() or name in _arguments._NAMED or name in _arguments._ANY:
                    continue
                if name in ("HTTPClient", "Table"):
                    continue  # stripe's and SQLAlchemy's: their own library checks them
                if _arguments._resolve(space, name) is None and (
                    typing.get_origin(space.get(name)) is not typing.Literal
                ):
                    unresolved.append(f"{where}({param}: {name})")
    assert seen > 400, seen  # the sweep found the public functions and dataclasses
    assert unresolved == []
