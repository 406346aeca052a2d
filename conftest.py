"""Runs the Python code blocks of README.md and docs/ as tests (Sybil).

Each Markdown file is one namespace: its blocks run top to bottom, each block
a test item. A block that cannot run here (it needs Stripe keys, a web
framework's request, a server) carries a skip directive with its reason in the
Markdown itself, ``<!-- skip: next "why" -->``, and docs/testing.md lists
them. Context a page takes for granted (an engine, a customer, a price) comes
from an ``<!-- invisible-code-block: python -->`` comment just before the block,
so the page shows what a reader needs and the test runs what the page says.

Only README.md and docs/**.md are collected (pyproject's ``testpaths`` names
them); every other Markdown file, tests/fixtures/*.md for one, is left alone.
Each file runs in a fresh temporary folder, so ``sqlite:///shop.db`` is created
there and not in the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent


def _setup(namespace: dict[str, Any]) -> None:
    folder = tempfile.mkdtemp(prefix="paykit-docs-")
    namespace["__docs_cwd__"] = (os.getcwd(), folder)
    os.chdir(folder)
    # The page runs as a module of its own, so code that looks itself up by
    # __name__ (Flask(__name__)) finds one; never as "__main__".
    module = types.ModuleType(f"paykit_docs_{uuid.uuid4().hex[:12]}")
    module.__file__ = os.path.join(folder, "page.py")
    sys.modules[module.__name__] = module
    namespace["__name__"] = module.__name__


def _teardown(namespace: dict[str, Any]) -> None:
    # type(), not isinstance() or getattr(): a page may hold proxies (flask.request)
    # that raise outside their context.
    values = list(namespace.values())
    for value in values:  # what a failed block left open
        if type(value) is contextlib.ExitStack:
            value.close()
    for value in values:
        if type(value).__name__ == "DocShop":
            value.engine.dispose()
        elif type(value).__name__ == "Engine":
            value.dispose()
    sys.modules.pop(namespace.get("__name__", ""), None)
    cwd, folder = namespace["__docs_cwd__"]
    os.chdir(cwd)
    shutil.rmtree(folder, ignore_errors=True)


_collect_markdown = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["*.md"],
    path=str(ROOT),
    setup=_setup,
    teardown=_teardown,
).pytest()


def is_doc_file(path: Path) -> bool:
    """README.md at the root, or a Markdown file under docs/."""
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return False
    if relative == Path("README.md"):
        return True
    return relative.parts[0] == "docs" and relative.suffix == ".md"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Sybil's collector, for the documentation's Markdown files only."""
    if is_doc_file(file_path):
        return _collect_markdown(file_path, parent)
    return None
