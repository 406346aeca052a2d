"""Lazy package namespaces whose one registry is the package's ``TYPE_CHECKING`` block.

A lazy package (``paykit``, ``paykit.notifications``) lists each public name
once, as an explicit re-export in its ``if TYPE_CHECKING:`` block::

    if TYPE_CHECKING:
        from paykit.money import Currency as Currency

That is what mypy, pyright and IDEs read (``X as X`` re-exports ``X`` without
an ``__all__``). At run time the block never runs; the package's module
``__getattr__`` asks :func:`registry` where a name lives, and this module reads
the answer from the same block with ``ast`` on the first lookup (about a
millisecond, once per process). ``__all__`` is derived from it too, in the
order of ruff's RUF022 sort. So ``import paykit`` imports no submodule, and no
second list of names can fall out of step with the first.

Data in, data out: this module imports nothing of paykit's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from types import CodeType

__all__ = ["Registry", "public_order", "registry", "registry_from_code"]


@dataclass(frozen=True)
class Registry:
    """The public names of one lazy package, read from its ``TYPE_CHECKING`` block."""

    #: Public name -> the module that holds it (``"paykit.money"``).
    home: dict[str, str]
    #: Submodules re-exported by name (``from paykit import errors as errors``).
    submodules: tuple[str, ...]
    #: Names declared without an import (``__version__: str``): the package supplies them.
    declared: tuple[str, ...]

    @property
    def all(self) -> list[str]:
        """The package's ``__all__``: every name of the block, in RUF022 order."""
        return public_order([*self.home, *self.submodules, *self.declared])

    def by_module(self) -> dict[str, tuple[str, ...]]:
        """Module -> the public names it holds, in the block's order."""
        modules: dict[str, list[str]] = {}
        for name, module in self.home.items():
            modules.setdefault(module, []).append(name)
        return {module: tuple(names) for module, names in modules.items()}


def public_order(names: list[str]) -> list[str]:
    """``names`` in the order of ruff's RUF022 sort: CONSTANTS, then Classes, then the rest."""

    def key(name: str) -> tuple[int, str]:
        if name.isupper():
            return (0, name)
        return (1 if name[:1].isupper() else 2, name)

    return sorted(names, key=key)


@cache
def registry(package: str) -> Registry:
    """The registry of ``package`` (already imported), read from its source once."""
    import ast

    module = sys.modules[package]
    loader = module.__spec__.loader if module.__spec__ else None
    get_source = getattr(loader, "get_source", None)
    source = get_source(package) if get_source else None
    if source is None:
        # A byte-code-only install (PyInstaller, stripped images): read the
        # compiled block instead.
        get_code = getattr(loader, "get_code", None)
        code = get_code(package) if get_code else None
        if code is None:
            raise ImportError(f"{package}: neither its source nor its byte code can be read")
        return registry_from_code(code, package)
    block = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    home: dict[str, str] = {}
    submodules: list[str] = []
    declared: list[str] = []
    for node in block.body:
        if isinstance(node, ast.ImportFrom) and node.module == package:
            submodules.extend(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            home.update({alias.asname or alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.append(node.target.id)
    return Registry(home=home, submodules=tuple(submodules), declared=tuple(declared))


def registry_from_code(code: CodeType, package: str) -> Registry:
    """The registry of ``package`` read from its compiled module code.

    The ``if TYPE_CHECKING:`` block never runs, but it is compiled: its imports
    are ``IMPORT_NAME module`` / ``IMPORT_FROM name`` / ``STORE_NAME alias``, and
    a declaration ``name: type`` stores the key ``name`` into ``__annotations__``
    (``LOAD_CONST 'name'``, ``STORE_SUBSCR``). Used when the source is not
    installed; a test holds it equal to :func:`registry`.
    """
    import dis

    instructions = list(dis.get_instructions(code))
    start = next(
        i
        for i, ins in enumerate(instructions)
        if ins.opname == "LOAD_NAME" and ins.argval == "TYPE_CHECKING"
    )
    jump = next(ins for ins in instructions[start:] if "IF_FALSE" in ins.opname)
    home: dict[str, str] = {}
    submodules: list[str] = []
    declared: list[str] = []
    module = ""
    previous = instructions[start]
    for ins in instructions[start + 1 :]:
        if ins.offset >= jump.argval:
            break
        if ins.opname == "IMPORT_NAME":
            module = ins.argval
        elif ins.opname == "STORE_NAME" and previous.opname == "IMPORT_FROM":
            if module == package:
                submodules.append(ins.argval)
            else:
                home[ins.argval] = module
        elif ins.opname == "STORE_SUBSCR" and previous.opname == "LOAD_CONST":
            declared.append(previous.argval)
        previous = ins
    return Registry(home=home, submodules=tuple(submodules), declared=tuple(declared))
