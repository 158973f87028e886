"""A throwaway PostgreSQL cluster for tests, run from Debian's `postgresql` binaries."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from ._util import free_port, unavailable

StopMode = Literal["smart", "fast", "immediate"]


class PgUnavailable(RuntimeError):
    """PostgreSQL's server binaries or the psycopg driver are not installed."""


def _version_key(bindir: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin", bindir)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_pg_bindir() -> Path:
    """The newest installed server's bin folder; Debian keeps each major version in its own folder."""
    bindirs = [str(Path(p).parent) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not bindirs:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PgUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(max(bindirs, key=_version_key))


class PgCluster:
    """A private PostgreSQL cluster on 127.0.0.1 with trust authentication and superuser `postgres`.

    The data folder lives in a temporary folder that `cleanup()` removes. The port stays the same across
    `stop()`/`start()`, so a client configured once can see the outage and the recovery.
    A `base_dir` of your own must be reachable by the `postgres` OS user when running as root
    (pytest's tmp_path is not: its parents are private to root).
    """

    def __init__(self, base_dir: Path | None = None, port: int | None = None, os_user: str = "postgres") -> None:
        self.bindir = find_pg_bindir()
        self.port = port or free_port()
        self._own_base = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="kit-pg-")) if base_dir is None else base_dir
        self.data_dir = self.base_dir / "data"
        # The Unix socket path is limited to about 107 bytes, so it lives in a short folder of its own.
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgres.log"
        # initdb and postgres refuse to run as root, so as root everything runs as the `postgres` OS user.
        self._run_as: str | None = os_user if os.geteuid() == 0 else None
        self._initialised = False
        self.running = False

    # -- process helpers -------------------------------------------------------------------------------------

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._run_as is not None:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        return cmd

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # stdin/stdout must not be pipes that the postmaster inherits, or reading them would wait for it to exit;
        # pg_ctl gets -l so the server's own output goes to the log file instead.
        proc = subprocess.run(
            self._cmd(tool, *args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{self.log_tail()}"
            )
        return proc

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            *("-D", str(self.data_dir), "--auth=trust", "-U", "postgres"),
            # A fixed encoding and the C locale, so sorting and encoding do not depend on the machine's LANG.
            *("-E", "UTF8", "--no-locale", "--no-sync"),
        )
        self._initialised = True

    # -- public API ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._initialised:
            self._prepare()
        server_opts = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
            # fsync only guards against the machine losing power, which no test simulates, and it is slow on a
            # busy CI disk. synchronous_commit stays on: a committed row must survive an `immediate` stop.
            " -c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", server_opts, "-w", "start")
        self.running = True

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; `immediate` kills it without a checkpoint, like a crash, and the next start recovers."""
        if not self.running:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
        self.running = False

    def restart(self, mode: StopMode = "fast") -> None:
        self.stop(mode)
        self.start()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its DSN."""
        import psycopg
        from psycopg import sql

        # CREATE DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def cleanup(self) -> None:
        if self.running:
            # Best effort: the cluster may already be gone, and the temp folder is removed either way.
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster for the whole session; skipped (failed with CI=true) when PostgreSQL is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg 3 is not installed (pip install 'psycopg[binary,pool]')")
    try:
        cluster = PgCluster()
    except PgUnavailable as err:
        unavailable(str(err))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    """A libpq connection string to a new, empty database of its own for each test."""
    if not pg_cluster.running:
        # A previous test may have stopped the shared cluster on purpose to simulate an outage.
        pg_cluster.start()
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = pg_cluster.create_database(name)
    yield dsn
    if pg_cluster.running:
        pg_cluster.drop_database(name)
