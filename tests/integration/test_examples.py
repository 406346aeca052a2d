"""Every script in examples/ runs as a plain subprocess, so examples never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/ is empty"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_runs_again_on_the_same_database(script: Path, tmp_path: Path) -> None:
    for attempt in ("first", "second"):  # a reader runs an example more than once
        result = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "example.db")],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, f"{attempt} run: {result.stderr}"
        assert result.stdout.strip(), "an example should show what it did"
        assert "Traceback" not in result.stderr, f"{attempt} run: {result.stderr}"
