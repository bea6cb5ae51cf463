"""Device leases: two runs never measure on one device, or one shared CPU, at once.

A lease is a row in a SQLite file shared by every edgeops process of this user
(``$EDGEOPS_LEASES``, default ``~/.local/state/edgeops/leases.sqlite``). A
holder refreshes its heartbeat while it holds a lease; a lease whose heartbeat
is older than the timeout, or whose holder process on this machine is gone, is
recovered by the next process that wants it. Every acquire, release and
recovery is logged with its time, so overlap can be checked afterwards.

What a device occupies: the device itself, and where it shares a host's CPU
with others (label ``host``), either the whole host or, when pinned (label
``cpus``), only its cores. Unpinned neighbours therefore take turns; pinned
ones on disjoint cores run at once.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeops.devices.inventory import SHARED_HOST_LABEL, cpu_set
from edgeops.errors import LeaseStoreError
from edgeops.models import Device

LEASES_ENV = "EDGEOPS_LEASES"
DEFAULT_TIMEOUT_S = 60.0
HEARTBEAT_S = 5.0
POLL_S = 0.2

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    resource TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_log (
    at REAL NOT NULL,
    event TEXT NOT NULL,
    resource TEXT NOT NULL,
    holder TEXT NOT NULL
);
"""


def default_lease_path() -> Path:
    if os.environ.get(LEASES_ENV):
        return Path(os.environ[LEASES_ENV])
    return Path.home() / ".local" / "state" / "edgeops" / "leases.sqlite"


def resources_of(device: Device) -> tuple[str, ...]:
    """Names of what measuring on ``device`` occupies."""
    names = [f"device:{device.id}"]
    host = device.labels.get(SHARED_HOST_LABEL)
    if host:
        cores = cpu_set(device)
        names += [f"host:{host}:cpu:{c}" for c in sorted(cores)] if cores else [f"host:{host}:*"]
    return tuple(names)


def _conflicts(wanted: str, held: str) -> bool:
    if wanted == held:
        return True
    # A whole-host lease conflicts with any lease on that host's cores, and back.
    for a, b in ((wanted, held), (held, wanted)):
        if a.endswith(":*") and b.startswith(a[:-1]):
            return True
    return False


class HeldLease:
    """A lease while it is held: ``lost()`` says whether another run took it meanwhile.

    A holder stopped for longer than the timeout (SIGSTOP, a suspended laptop)
    stops beating; another run then recovers the lease and measures on the same
    device. Its rows are gone when it resumes, so what it measured meanwhile is
    void, and ``lost`` says why.
    """

    def __init__(self, book: LeaseBook, device: Device, resources: tuple[str, ...], holder: str):
        self._book, self._device = book, device
        self.resources, self.holder = resources, holder
        self.taken = threading.Event()

    def lost(self) -> str | None:
        """Why the lease is no longer this holder's, or None while it still is."""
        with self._book._db() as db:
            held = db.execute(
                f"SELECT COUNT(*) FROM leases WHERE holder = ? AND pid = ? AND resource IN "
                f"({', '.join('?' * len(self.resources))})",
                (self.holder, os.getpid(), *self.resources),
            ).fetchone()[0]
        if held == len(self.resources) and not self.taken.is_set():
            return None
        return (
            f"the lease on device {self._device.name} was lost while measuring (no heartbeat "
            f"for over {self._book.timeout_s:g} s, e.g. the run was stopped), and another run "
            "may have measured on it at the same time"
        )


@dataclass(frozen=True)
class LeaseState:
    resource: str
    holder: str
    heartbeat_age_s: float


class LeaseBook:
    def __init__(self, path: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = path or default_lease_path()
        self.timeout_s = timeout_s
        self.hostname = socket.gethostname()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
                db.executescript(SCHEMA)
                yield db
        except sqlite3.Error as exc:
            # A corrupt or unwritable lease file is edgeops's own failure: blaming the
            # device would quarantine a healthy board and report the model unsupported.
            raise LeaseStoreError(
                f"lease file {self.path} cannot be used ({exc}); move it aside (it is "
                f"recreated) or set {LEASES_ENV} to another path"
            ) from exc

    @contextmanager
    def hold(self, device: Device, holder: str, wait_s: float = 3600.0) -> Iterator[HeldLease]:
        """Hold every resource of ``device`` for the block, waiting for other holders.

        Check ``lost()`` of what it yields after the work: a lease can be taken
        from a holder that stopped beating.
        """
        resources = resources_of(device)
        deadline = time.monotonic() + wait_s
        while not self._try_acquire(resources, holder):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"device {device.name} stayed leased by another run for {wait_s:g} s"
                )
            time.sleep(POLL_S)
        stop = threading.Event()
        lease = HeldLease(self, device, resources, holder)
        beat = threading.Thread(target=self._heartbeat, args=(lease, stop), daemon=True)
        beat.start()
        try:
            yield lease
        finally:
            stop.set()
            beat.join()
            self._release(resources, holder)

    def _try_acquire(self, resources: tuple[str, ...], holder: str) -> bool:
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT resource, hostname, pid, heartbeat_at FROM leases"
                ).fetchall()
                for resource, hostname, pid, heartbeat_at in rows:
                    if not any(_conflicts(r, resource) for r in resources):
                        continue
                    if self._is_dead(hostname, pid, heartbeat_at, now):
                        db.execute("DELETE FROM leases WHERE resource = ?", (resource,))
                        db.execute(
                            "INSERT INTO lease_log VALUES (?, 'recover', ?, ?)",
                            (now, resource, holder),
                        )
                        continue
                    db.execute("ROLLBACK")
                    return False
                for resource in resources:
                    db.execute(
                        "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?)",
                        (resource, holder, self.hostname, os.getpid(), now, now),
                    )
                    db.execute(
                        "INSERT INTO lease_log VALUES (?, 'acquire', ?, ?)", (now, resource, holder)
                    )
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _is_dead(self, hostname: str, pid: int, heartbeat_at: float, now: float) -> bool:
        if now - heartbeat_at > self.timeout_s:
            return True
        if hostname == self.hostname:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True  # the holder died on this machine: no need to wait out the timeout
            except PermissionError:
                return False
        return False

    def _heartbeat(self, lease: HeldLease, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            with self._db() as db:
                now = time.time()
                updated = sum(
                    db.execute(
                        "UPDATE leases SET heartbeat_at = ? WHERE resource = ? AND holder = ?",
                        (now, r, lease.holder),
                    ).rowcount
                    for r in lease.resources
                )
            if updated < len(lease.resources):
                lease.taken.set()  # recovered by another run: beating on would not bring it back
                return

    def _release(self, resources: tuple[str, ...], holder: str) -> None:
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            for resource in resources:
                db.execute(
                    "DELETE FROM leases WHERE resource = ? AND holder = ?", (resource, holder)
                )
                db.execute(
                    "INSERT INTO lease_log VALUES (?, 'release', ?, ?)", (now, resource, holder)
                )
            db.execute("COMMIT")

    def states(self) -> list[LeaseState]:
        if not self.path.exists():
            return []
        now = time.time()
        with self._db() as db:
            rows = db.execute("SELECT resource, holder, heartbeat_at FROM leases").fetchall()
        return [LeaseState(r, h, now - beat) for r, h, beat in rows]

    def log(self) -> list[tuple[float, str, str, str]]:
        if not self.path.exists():
            return []
        with self._db() as db:
            return db.execute(
                "SELECT at, event, resource, holder FROM lease_log ORDER BY rowid"
            ).fetchall()
