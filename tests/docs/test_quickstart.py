"""README's Quickstart: its two commands are what CI runs and what noxfile.py offers.

The second command is in .ci/run verbatim; it makes ``.venv`` itself, so it runs
on a fresh clone and on a Debian system Python (no ``pip install`` outside a
virtual environment). The first one (``nox -s demo``) is run for real, from a
copy of the repository, when ``PAYKIT_RUN_QUICKSTART=1`` is set: it installs nox
and paykit from the package index and takes minutes, so the default run skips it
with that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quickstart") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's Quickstart has no sh block"
    return [line for line in block[1].splitlines() if line.strip()]


def test_quickstart_is_two_commands_on_sessions_that_exist() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    for command in commands:
        for session in re.findall(r"nox -s ([\w-]+)", command):
            assert re.search(rf"def {session.replace('-', '_')}\(", noxfile), session


def test_ci_runs_the_second_quickstart_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert quickstart_commands()[1] in ci


def test_quickstart_and_ci_install_nox_into_a_virtual_environment() -> None:
    """Never ``pip install`` into the system Python (PEP 668 refuses it on Debian)."""
    for command in quickstart_commands():
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install"), command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert not re.search(r"^\s*nox\b", ci, re.M), "CI calls a nox that is not .venv's"
    assert not re.search(r"^\s*python3 -m pip install", ci, re.M)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PAYKIT_RUN_QUICKSTART") != "1",
    reason="installs nox and paykit into a fresh venv (minutes): set PAYKIT_RUN_QUICKSTART=1",
)
def test_first_quickstart_command_works_in_a_fresh_venv(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".nox", "site", "*.db", ".git")
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PAYKIT_DATABASE_URL", None)
    result = subprocess.run(
        ["bash", "-c", quickstart_commands()[0]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (repo / "paykit-demo.db").is_file()
