"""What the `duplicates` count of ``src`` is made of (a measurement; it changes no code).

    python benchmarks/duplicates_breakdown.py src

Needs the ``duplicates`` command of the developers' tool library on PATH.

Variants, each a scratch copy of src: as is; without migrations/versions; and
then with every function header (decorators + `def name(...) -> T:` over
several lines) folded into one line, so keyword-only signatures stop counting.
"""

import ast
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

src = Path(sys.argv[1])


def count(tree: Path) -> str:
    out = subprocess.run(
        ["duplicates", "--repo", str(tree), "--most", "1", "--seconds", "200"],
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines()[0] if out else "?"


def fold_headers(path: Path) -> None:
    text = path.read_text()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    lines = text.splitlines()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            start = node.lineno - 1
            end = node.body[0].lineno - 1  # first line of the body
            if end - start > 1:
                spans.append((start, end, node.name, node.col_offset))
    for start, end, name, col in sorted(spans, reverse=True):
        lines[start:end] = [" " * col + f"def {name}(*args):"]
    path.write_text("\n".join(lines) + "\n")


with tempfile.TemporaryDirectory() as tmp:
    base = Path(tmp) / "a"
    shutil.copytree(src, base)
    subprocess.run(["git", "init", "-q", str(base)])
    print("as is:                 ", count(base))
    shutil.rmtree(base / "paykit" / "migrations" / "versions")
    print("without migrations:    ", count(base))
    for p in base.rglob("*.py"):
        fold_headers(p)
    print("+ one-line signatures: ", count(base))
