"""A throwaway PostgreSQL server for tests, and a ``store_url`` fixture over SQLite and it.

``postgres_server`` (session) finds ``initdb`` and ``pg_ctl`` (on PATH, else the newest
``/usr/lib/postgresql/*/bin``), makes a cluster in a new folder under /tmp, starts it on a
free loopback port with its unix socket in that folder, and stops it and removes the folder at
the end. PostgreSQL refuses to run as root, so as root (CI) the folder is given to ``nobody``
and initdb/pg_ctl run as that user (runuser, setpriv or su, whichever exists). With no
PostgreSQL binaries the tests that need it skip and say why; ``TEST_POSTGRES_URL`` points the
tests at a server of your own instead (each test gets a new database in it).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_S = 60


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).parent
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    for folder in sorted(found, key=lambda p: _version(p.parent.name), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def _as_unprivileged() -> list[str]:
    """Command prefix that runs a program as UNPRIVILEGED_USER (we are root)."""
    if shutil.which("runuser"):
        return ["runuser", "-u", UNPRIVILEGED_USER, "--"]
    if shutil.which("setpriv"):
        import pwd

        user = pwd.getpwnam(UNPRIVILEGED_USER)
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                "--clear-groups", "--"]
    if shutil.which("su"):  # su takes one shell command: handled in PostgresServer._run
        return ["su", UNPRIVILEGED_USER, "-s", "/bin/sh", "-c"]
    raise RuntimeError("running as root, and neither runuser, setpriv nor su is installed")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in its own folder, trust authentication on loopback only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Under /tmp, not pytest's tmp folders: those are private to root (0700), and the
        # socket's path must stay under ~100 characters.
        self.root = Path(tempfile.mkdtemp(prefix="emolens-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.as_user = _as_unprivileged() if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database as the ``postgres`` superuser."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        if self.as_user:
            shutil.chown(self.root, UNPRIVILEGED_USER)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        self.port = free_port()
        options = (f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(START_TIMEOUT_S), "-o", options, "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_user[:1] == ["su"]:
            command = [*self.as_user, shlex.join(command)]
        else:
            command = [*self.as_user, *command]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=self.root,
                              timeout=START_TIMEOUT_S + 30)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}\n{log}"
            )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server for this test session (skips when there is none)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'emolens[postgres]'")
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"]
        return
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
                    "/usr/lib/postgresql/*/bin; Debian: apt-get install postgresql")
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """URL of a new, empty database on the session's server, dropped after the test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(postgres_server).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's result store goes: a new SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "sub" / "results.db")
    return request.getfixturevalue("postgres_url")
