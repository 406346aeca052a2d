"""The installed package is what users were promised: typed, versioned, with its migrations."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata, resources

import paykit


def test_version_comes_from_metadata() -> None:
    assert paykit.__version__ == metadata.version("paykit")


def test_version_survives_the_version_submodule_being_imported_first() -> None:
    # Importing paykit._version binds that name on the package; __version__ must not
    # then call the module (it did, in a process that had imported it first).
    code = "import paykit._version, paykit; print(paykit.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == metadata.version("paykit")


def test_py_typed_and_migrations_ship_in_the_package() -> None:
    root = resources.files("paykit")
    assert root.joinpath("py.typed").is_file()
    assert root.joinpath("migrations", "env.py").is_file()
    assert root.joinpath("migrations", "script.py.mako").is_file()
    assert any(p.name.startswith("0001") for p in root.joinpath("migrations", "versions").iterdir())


def test_console_script_is_declared() -> None:
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts.get("paykit") == "paykit.cli:main"


def test_dependencies_are_declared() -> None:
    requires = " ".join(metadata.requires("paykit") or []).lower()
    for dep in ("sqlalchemy", "alembic", "pydantic", "stripe", "bcrypt", "psycopg", "cryptography"):
        assert dep in requires
