"""The ``paykit`` command prints one line for every error, with a hint where one helps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import paykit
from paykit import errors


def run(
    *args: str, env: dict[str, str] | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = ["-c", code] if code else ["-m", "paykit.cli", *args]
    return subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paykit: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "url", ["mysql://user:s3cret@localhost/shop", "mysql+pymysql://u@h/db", "oracle://u@h/db"]
)
def test_an_unsupported_database_is_one_line_naming_what_is_supported(url: str) -> None:
    line = one_line(run("--database-url", url, "migrate"))
    assert "SQLite and PostgreSQL" in line
    assert "s3cret" not in line


def test_an_unknown_url_scheme_is_one_line() -> None:
    line = one_line(run("--database-url", "frob://x/y", "migrate"))
    assert "SQLite and PostgreSQL" in line


@pytest.fixture
def no_libpq(tmp_path: Path) -> dict[str, str]:
    """An environment in which psycopg finds no libpq, as on a host without the library."""
    (tmp_path / "sitecustomize.py").write_text(
        "import ctypes.util\n"
        "_find = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda name: None if name == 'pq' else _find(name)\n"
    )
    env = dict(os.environ, PSYCOPG_IMPL="python")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    return env


def test_a_missing_libpq_hints_at_the_binary_extra(no_libpq: dict[str, str]) -> None:
    line = one_line(
        run("--database-url", "postgresql://nobody@127.0.0.1:1/x", "migrate", env=no_libpq)
    )
    assert "libpq" in line
    assert "pip install 'paykit[binary]'" in line


def test_create_engine_says_the_same_as_a_configuration_error(no_libpq: dict[str, str]) -> None:
    code = (
        "import paykit\n"
        "try:\n"
        "    paykit.create_engine('postgresql://nobody@127.0.0.1:1/x')\n"
        "except paykit.errors.ConfigurationError as exc:\n"
        "    print(exc.code, exc.details['hint'])\n"
    )
    result = run(code=code, env=no_libpq)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database_driver_missing pip install 'paykit[binary]'")


@pytest.mark.parametrize("url", ["mysql://u@h/db", "frob://x/y"])
def test_create_engine_refuses_other_databases(url: str) -> None:
    with pytest.raises(errors.ConfigurationError) as info:
        paykit.create_engine(url)
    assert info.value.code == "unsupported_database"


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    code = (
        "import paykit.cli as cli\n"
        "def boom(engine):\n"
        "    raise RuntimeError('boom')\n"
        "cli.migrate = boom\n"
        f"raise SystemExit(cli.main(['--database-url', 'sqlite:///{tmp_path}/x.db', 'migrate']))\n"
    )
    line = one_line(run(code=code))
    assert line == (
        "paykit: error: unexpected RuntimeError: boom (PAYKIT_DEBUG=1 shows the traceback)"
    )
    debug = run(code=code, env=dict(os.environ, PAYKIT_DEBUG="1"))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "RuntimeError: boom" in debug.stderr


@pytest.mark.parametrize(
    "command",
    [["check"], ["purge", "--dry-run"], ["webhooks", "list"]],
    ids=lambda c: c[0],
)
def test_a_database_never_migrated_is_one_line_saying_run_migrate(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    line = one_line(run("--database-url", url, *command))
    assert "never migrated" in line
    assert "paykit migrate" in line
    assert paykit.head_revision() in line


def test_a_database_behind_this_paykit_names_both_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    paykit.migrate(url, revision="0004")
    line = one_line(run("--database-url", url, "check"))
    assert "at revision 0004" in line
    assert paykit.head_revision() in line


def test_an_archive_file_that_cannot_be_opened_is_one_line_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}"
    paykit.migrate(url)
    engine = paykit.create_engine(url)
    with engine.begin() as conn:  # an audit row far older than any retention period
        conn.exec_driver_sql(
            "INSERT INTO audit_logs (id, action, resource, created_at)"
            " VALUES ('a1', 'user.login', 'users', '2000-01-01 00:00:00.000000')"
        )
    missing = tmp_path / "no-such-folder" / "archive.jsonl"
    line = one_line(run("--database-url", url, "purge", "--archive", str(missing)))
    assert "cannot open the archive file" in line
    assert str(missing) in line
    assert errors.ERROR_CODES["archive_unwritable"].error is errors.ConfigurationError
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_logs").scalar() == 1
    engine.dispose()
