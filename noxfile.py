"""paykit's one entry point for checks: ``nox -s tests tests-lowest drills docs lint typecheck``."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint", "typecheck"]

PYTHON = None  # the interpreter that runs nox (3.11 or newer)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite, on SQLite and on PostgreSQL (PAYKIT_TEST_DATABASE_URL).

    Without a PostgreSQL server the PostgreSQL tests skip with a reason; with
    CI or PAYKIT_REQUIRE_POSTGRES set they fail instead.
    """
    session.install("-e", ".[test]")
    env = {}
    if os.environ.get("CI"):
        # In CI every test's leftovers also go through `paykit check`: a test that
        # leaves a state the services never make fails, unless marked partial_state.
        env = {"HYPOTHESIS_PROFILE": "ci", "PAYKIT_CHECK_EACH_TEST": "strict"}
    session.run("pytest", *(session.posargs or ["-q"]), env=env)


@nox.session(python=PYTHON)
def drills(session: nox.Session) -> None:
    """Backup, point-in-time recovery, replica and upgrade drills (tests/drills).

    They need the PostgreSQL server of PAYKIT_TEST_DATABASE_URL and PostgreSQL's
    server binaries (PAYKIT_PG_BINDIR, default the newest /usr/lib/postgresql/*/bin),
    with which they start clusters of their own on free local ports (as the
    ``postgres`` user when run as root) and stop them at the end. The upgrade
    drill builds each release's wheel with hatchling. ``tests`` leaves them out.
    """
    session.install("-e", ".[test]", "hatchling>=1.21")
    session.run("pytest", "tests/drills", *(session.posargs or ["-q"]))


def lowest_constraints(pyproject: Path = Path("pyproject.toml")) -> str:
    """pip constraints pinning every ``>=X`` floor of pyproject's dependencies and test extra.

    Extras are dropped (pip refuses them in a constraints file); a requirement
    without a floor is left to the resolver.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [
        *project["dependencies"],
        *project["optional-dependencies"]["binary"],
        *project["optional-dependencies"]["test"],
    ]
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement)
        if match:
            pins[match[1].lower()] = match[3]
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


@nox.session(name="tests-lowest", python=PYTHON)
def tests_lowest(session: nox.Session) -> None:
    """The whole suite with the lowest version of every direct dependency pyproject allows.

    Each ``>=X`` floor of ``dependencies`` and of the ``binary`` and ``test``
    extras is installed as ``==X``, so a floor that no longer works fails here
    instead of at a user's. The properties run Hypothesis's ``dev`` profile
    (50 examples) here: this run asks whether the floors still work, and the
    ``tests`` session already searches 500 examples per property; it keeps CI
    inside its 90 minutes.
    """
    constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
    constraints.write_text(lowest_constraints())
    session.log("lowest versions:\n" + constraints.read_text())
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("pip", "freeze", "--exclude-editable", silent=False)
    session.run("pytest", *(session.posargs or ["-q"]), env={"HYPOTHESIS_PROFILE": "dev"})


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs.yml) into site/ with ``--strict``.

    A broken link, a page missing from the nav or a docstring the API reference
    cannot render fails the build. The doc blocks themselves run in ``tests``
    (conftest.py); tests/docs/test_links.py checks links and paths.
    """
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


LINTED = ("src", "tests", "examples", "benchmarks", "noxfile.py", "conftest.py", "mkdocs_hooks.py")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/paykit."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "--strict", "src/paykit")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Migrate and seed a SQLite file (paykit-demo.db) and print what is in it."""
    session.install("-e", ".")
    url = os.environ.get("PAYKIT_DATABASE_URL", "sqlite:///paykit-demo.db")
    session.run("paykit", "--database-url", url, "demo", *session.posargs)


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Run the scripts in benchmarks/ (figures, not pass/fail)."""
    session.install("-e", ".[test]")
    for script in sorted(os.listdir("benchmarks")):
        if script.endswith(".py") and not script.startswith("_"):
            session.run("python", f"benchmarks/{script}", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Load with faults: 5 minutes of mixed traffic from 8 workers on PostgreSQL, then the books.

    benchmarks/soak.py against PAYKIT_BENCH_DATABASE_URL (default: the test
    server); fails unless ``paykit check`` is clean and the gateway's ledger
    agrees with the database to the cent. Arguments after ``--`` replace the
    defaults (``nox -s soak -- --seconds 20``).
    """
    session.install("-e", ".[test]")
    session.run(
        "python", "benchmarks/soak.py", *(session.posargs or ["--seconds", "300", "--workers", "8"])
    )
