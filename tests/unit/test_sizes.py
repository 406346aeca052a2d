"""Small modules and small functions (issue #11): no module of ``paykit`` over
600 lines, no function over 80, read from the source with ``ast``.

Exempt: the migrations (a revision is written once and never edited).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import paykit

SRC = Path(paykit.__file__).parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

#: Paths (relative to ``paykit/``) left out (see the module docstring).
ALLOWED = ("migrations/versions/",)


def offenders(src: Path) -> Iterator[str]:
    """``path: N lines`` per long module, ``path:line name: N lines`` per long function."""
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel.startswith(ALLOWED):
            continue
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            yield f"{rel}: {lines} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    yield f"{rel}:{node.lineno} {node.name}: {length} lines"


def test_the_reader_finds_long_modules_and_functions(tmp_path: Path) -> None:
    # Guards the reader itself: if it found nothing, the test below would pass.
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(
        f"def long():\n{body}\n" + "y = 1\n" * MAX_MODULE_LINES, encoding="utf-8"
    )
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "migrations" / "versions" / "0001.py").write_text("z = 1\n" * 700, encoding="utf-8")
    assert list(offenders(tmp_path)) == [
        f"long.py: {MAX_MODULE_LINES + MAX_FUNCTION_LINES + 2} lines",
        f"long.py:1 long: {MAX_FUNCTION_LINES + 1} lines",
    ]


def test_no_long_module_or_function() -> None:
    found = list(offenders(SRC))
    assert found == [], "split these (extract modules or helpers):\n" + "\n".join(found)
