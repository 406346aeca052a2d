"""Throwaway PostgreSQL clusters for the drills: initdb, start, base backups, stop.

Each cluster lives in a temporary directory, listens on 127.0.0.1 on a free
port of its own and never touches the server the rest of the suite uses.
PostgreSQL refuses to run as root, so when the tests run as root (CI does)
every server binary runs as the ``postgres`` user (``runuser``) and the
directories are handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from paykit.db import create_engine

SERVER_USER = "postgres"  # who runs the servers when the tests run as root


def bindir() -> Path:
    """PostgreSQL's binaries: ``PAYKIT_PG_BINDIR``, else the newest /usr/lib/postgresql/*/bin."""
    configured = os.environ.get("PAYKIT_PG_BINDIR")
    if configured:
        return Path(configured)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("no PostgreSQL server binaries: set PAYKIT_PG_BINDIR")


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def hand_over(path: Path) -> None:
    """Give ``path`` (recursively) to the user that runs the servers."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVER_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def run_tool(tool: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one of PostgreSQL's binaries as the server user; its output is in the error."""
    command = [*_as_server_user(), str(bindir() / tool), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def client_tool(
    tool: str, *args: str | Path, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client binary (pg_dump, pg_restore) as the current user; fail with its output."""
    command = [str(bindir() / tool), *map(str, args)]
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def free_port(start: int = 55432, stop: int = 56432) -> int:
    """A TCP port on 127.0.0.1 nobody listens on, from ``start`` up."""
    for port in range(start + os.getpid() % 200, stop):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{stop}")


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``predicate`` every 0.1 s until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class Workspace:
    """A temporary directory owned by the server user, holding clusters, backups and WAL."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="paykit-drill-"))
        hand_over(self.root)
        self.clusters: list[Cluster] = []

    def directory(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=0o700)
        hand_over(path)
        return path

    def cluster(self, name: str, **settings: str) -> Cluster:
        """A new cluster (``initdb``), configured with ``settings``, not started."""
        cluster = Cluster(self.root / name, port=free_port())
        run_tool(
            "initdb",
            "-D",
            cluster.datadir,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        cluster.configure(**settings)
        self.clusters.append(cluster)
        return cluster

    def restored(self, name: str, backup: Path, **settings: str) -> Cluster:
        """A cluster whose data directory is a copy of the base backup ``backup``."""
        cluster = Cluster(self.root / name, port=free_port())
        shutil.copytree(backup, cluster.datadir, symlinks=True)
        hand_over(cluster.datadir)
        cluster.datadir.chmod(0o700)
        cluster.configure(**settings)
        self.clusters.append(cluster)
        return cluster

    def standby(self, name: str, primary: Cluster, **settings: str) -> Cluster:
        """A streaming standby of ``primary``: ``pg_basebackup -R`` (writes
        ``standby.signal`` and ``primary_conninfo``), not started."""
        cluster = Cluster(self.root / name, port=free_port(start=primary.port + 1))
        primary.base_backup(cluster.datadir, "-R")
        cluster.datadir.chmod(0o700)
        cluster.configure(**settings)
        self.clusters.append(cluster)
        return cluster

    def close(self) -> None:
        """Stop every cluster that is still running, then remove the directory."""
        errors = []
        for cluster in self.clusters:
            try:
                cluster.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]


class Cluster:
    """One PostgreSQL cluster: a data directory and the port it listens on."""

    def __init__(self, datadir: Path, *, port: int) -> None:
        self.datadir = datadir
        self.port = port
        self.log = datadir.parent / f"{datadir.name}.log"
        self._engines: list[Engine] = []

    def configure(self, **settings: str) -> None:
        """Append ``name = 'value'`` lines to postgresql.auto.conf (the last one wins)."""
        lines = [f"{name} = '{value}'\n" for name, value in settings.items()]
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.writelines(lines)

    def touch(self, name: str) -> None:
        """Create an empty file in the data directory (``recovery.signal``)."""
        (self.datadir / name).touch()
        hand_over(self.datadir / name)

    def start(self) -> None:
        """Start the server and wait until it accepts connections.

        Another run may take the free port between choosing and binding it:
        then the next free port is tried, up to three times.
        """
        if not self.log.exists():
            self.log.touch()
            hand_over(self.log)
        for _attempt in range(3):
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            result = run_tool(
                "pg_ctl", "-D", self.datadir, "-l", self.log, "-o", options,
                "-w", "-t", "120", "start", check=False,
            )  # fmt: skip
            if result.returncode == 0:
                return
            if "could not bind" not in self.tail(10):
                break
            self.port = free_port(start=self.port + 1)
        raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{self.tail()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it runs; dispose the engines made for it."""
        for engine in self._engines:
            engine.dispose()
        self._engines.clear()
        if (self.datadir / "postmaster.pid").exists():
            run_tool("pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "-t", "120", "stop")

    def tail(self, lines: int = 30) -> str:
        """The end of the server log, for error messages."""
        if not self.log.exists():
            return "(no server log)"
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def engine(self, database: str = "postgres", **kwargs: object) -> Engine:
        """A paykit engine on ``database``; disposed when the cluster stops."""
        engine = create_engine(self.url(database), **kwargs)
        self._engines.append(engine)
        return engine

    def sql(self, statement: str, database: str = "postgres") -> object:
        """Run one statement in autocommit mode; the first column of the first row."""
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.exec_driver_sql(statement)
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def create_database(self, name: str) -> None:
        self.sql(f'CREATE DATABASE "{name}"')

    def base_backup(self, target: Path, *extra: str) -> None:
        """``pg_basebackup`` of this cluster into ``target`` (plain format, WAL streamed)."""
        run_tool(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            target,
            "-Fp",
            "-Xstream",
            "-c",
            "fast",
            "--no-sync",
            *extra,
        )

    def in_recovery(self) -> bool:
        return bool(self.sql("SELECT pg_is_in_recovery()"))


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    """A :class:`Workspace` whose clusters are stopped and files removed at the end."""
    space = Workspace()
    try:
        yield space
    finally:
        space.close()


def table_names(engine: Engine) -> Sequence[str]:
    """Every table of the database's default schema (paykit's, Alembic's version table)."""
    return sorted(sa.inspect(engine).get_table_names())
