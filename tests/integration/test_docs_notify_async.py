"""The Python blocks of docs/notifications.md and docs/async.md run as written.

Each page's blocks run in order in one namespace (later blocks use what earlier
ones made), the way a reader would paste them into one script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", ["notifications.md", "async.md"])
def test_the_page_runs(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a page that writes a SQLite file writes it here
    blocks = BLOCK.findall((DOCS / page).read_text())
    assert blocks, f"{page} has no python block"
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}"}
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"{page} block {number}", "exec"), namespace)
