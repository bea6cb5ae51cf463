"""A real PostgreSQL server for the team-studio tests, from Debian's ``postgresql`` package.

``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (install.sh installs
the package; its own cluster service is never used). The server listens on
127.0.0.1 on a free port, no Unix socket, with a generated password
(scram-sha-256), in a fresh data folder, and is stopped and deleted after the
session. PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user the package creates (``runuser``); its data folder is a
``mkdtemp`` folder owned by that user, because pytest's own temporary folders
are private to root.

One server per pytest process: under pytest-xdist each worker starts its own on
its own port, and each test takes a fresh database (``pg_database``).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "edgeops"


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    port: int
    password: str
    bin_dir: Path
    data: Path
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database on this server; returns its URL."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        dsn = f"host=127.0.0.1 port={self.port} user={PG_USER} password={self.password} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_pg(root: Path) -> PgServer:
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.fail("Debian's postgresql is missing: run ./install.sh")
    as_user: list[str] = []
    if os.getuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    root.chmod(0o700)
    data = root / "data"
    password = secrets.token_urlsafe(18)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if as_user:
        shutil.chown(pwfile, "postgres")
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            PG_USER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    # A free port can be taken between the check and pg_ctl: try a few.
    for _ in range(5):
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k '' -c fsync=off -c max_connections=60"
        started = subprocess.run(
            [
                *as_user,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
        )
        if started.returncode == 0:
            return PgServer(port, password, bin_dir, data, as_user)
        time.sleep(0.2)
    log = (root / "log").read_text() if (root / "log").exists() else started.stderr
    raise RuntimeError(f"PostgreSQL did not start: {log[-2000:]}")


def stop_pg(server: PgServer) -> None:
    subprocess.run(
        [
            *server.as_user,
            str(server.bin_dir / "pg_ctl"),
            "-D",
            str(server.data),
            "-m",
            "fast",
            "-w",
            "stop",
        ],
        capture_output=True,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="edgeops-pg-"))
    server = start_pg(root)
    try:
        yield server
    finally:
        stop_pg(server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: PgServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres.create_database()
