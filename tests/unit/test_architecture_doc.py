"""docs/architecture.md names every module of ``paykit``: one line per module.

The "Modules as built" table is the map a newcomer reads. A row names one
module (`paykit/clock.py`), several of one folder (`paykit/services/reads.py`,
`quotes.py`), or a package (`paykit/pricing/`) whose modules its description
names by file (`lines.py`). A module added without a line here fails this test,
so the map cannot drift from the tree. Released migrations (`versions/`) are
listed by Alembic, not here.
"""

from __future__ import annotations

import re
from pathlib import Path

import paykit

SRC = Path(paykit.__file__).parent
DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
_CODE = re.compile(r"`([^`]+)`")


def _table_rows() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Modules as built", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `paykit") and len(cells) >= 2:
            rows.append((cells[0], " | ".join(cells[1:])))
    return rows


def _covered() -> set[str]:
    """The module paths (relative to ``paykit/``) the table names."""
    covered: set[str] = set()
    for first, rest in _table_rows():
        names = _CODE.findall(first)
        base = names[0].removeprefix("paykit/")
        folder = base if base.endswith("/") else base.rpartition("/")[0] + "/"
        if folder == "/":
            folder = ""
        for name in names:
            name = name.removeprefix("paykit/")
            covered.add(name if "/" in name or folder == "" else folder + name)
        if base.endswith("/"):  # a package row: the files its description names
            for word in re.findall(r"[\w/]+\.py(?![\w.])", rest):
                covered.add(folder + word)
    return covered


def _modules() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("migrations/versions/") or rel == "__init__.py":
            continue
        found.append(rel)
    return found


def test_every_module_has_a_line_in_the_architecture_doc() -> None:
    covered = _covered()
    missing = [
        rel
        for rel in _modules()
        # A package's __init__ is covered by the package's own row.
        if rel not in covered
        and not (rel.endswith("/__init__.py") and rel.removesuffix("__init__.py") in covered)
    ]
    assert missing == [], f"add a line for each to docs/architecture.md: {missing}"


def test_the_doc_names_no_module_that_is_gone() -> None:
    existing = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")}
    existing |= {p.relative_to(SRC).as_posix() + "/" for p in SRC.rglob("*") if p.is_dir()}
    stale = sorted(name for name in _covered() if name not in existing)
    assert stale == [], f"docs/architecture.md names modules that do not exist: {stale}"
