"""The repository holds no symbolic links.

A release is built from its commit with ``git archive`` (tests/drills/test_upgrade.py),
and an archive holding a link to an absolute path is refused when unpacked: a
stray link (a worktree's ``.venv`` link committed by mistake) would make that
release impossible to rebuild. The check reads git's index, so it runs in a
checkout; a source tree without ``.git`` (an unpacked sdist) has nothing to check.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_in_the_repository_is_a_symlink() -> None:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    links = [line.split("\t", 1)[1] for line in listed if line.startswith("120000 ")]
    assert listed, "git listed no files"
    assert links == []
