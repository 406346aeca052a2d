"""The example apps stay small: the host code of each is at most 60 lines (issue 15).

tests/integration/test_examples.py runs them (each serves itself over real HTTP
and walks through the shop); this test counts what a host writes: the lines
from the first import to the "client" line, without blank lines and comments.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MARKER = "# ---- client:"


def host_lines(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    assert MARKER in text, f"{path.name} has no client line"
    start = text.index("from __future__ import annotations")
    host = text[start : text.index(MARKER)].splitlines()
    return sum(1 for line in host if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("name", ["fastapi_app.py", "flask_app.py"])
def test_host_code_is_at_most_60_lines(name: str) -> None:
    assert host_lines(EXAMPLES / name) <= 60
