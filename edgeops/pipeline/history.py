"""Run history in ``.edgeops/runs.sqlite``, read by ``edgeops history``.

A running run has an owner: its pid and host, and a heartbeat the owner
refreshes every few seconds. ``ship --resume`` refuses a run whose owner is
alive, so two processes never measure one run; a ``running`` row whose owner
is gone (SIGKILL, a crash, a lost machine) reads as ``dead`` and can be resumed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeops.errors import RunBusyError
from edgeops.hookspecs import hookimpl
from edgeops.models import Results, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    profiles TEXT NOT NULL,
    bundle TEXT,
    variants INTEGER,
    measurements INTEGER,
    cache TEXT,
    error TEXT
)
"""
# Added after the first release: older files get them by ALTER TABLE.
OWNER_COLUMNS = {"owner_pid": "INTEGER", "owner_host": "TEXT", "heartbeat_at": "REAL"}
HISTORY_FILE = "runs.sqlite"  # in the workspace folder
HEARTBEAT_S = 5.0
# The same rule as device leases: an owner silent this long is gone.
OWNER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: str
    finished_at: str | None
    status: str
    model: str
    version: str
    profiles: str
    bundle: str | None
    variants: int | None
    measurements: int | None
    cache: str | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """The record with its lists and objects as JSON structures, not strings in JSON."""
        return {
            **self.__dict__,
            "profiles": self.profiles.split(",") if self.profiles else [],
            "cache": json.loads(self.cache) if self.cache else None,
        }


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite's journal makes each write atomic; a busy timeout lets two runs share it.
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            db.execute(SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            for column, kind in OWNER_COLUMNS.items():
                if column not in have:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
            yield db

    def started(self, run_id: str, model: str, version: str, profiles: list[str]) -> None:
        """Record a run as running, owned by this process; a resumed run's row is reset.

        Refused (RunBusyError) when the run's owner is still alive: checked and
        taken in one transaction, so two resumes cannot both win.
        """
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT status, owner_pid, owner_host, heartbeat_at FROM runs WHERE run_id=?",
                (run_id,),
            ).fetchone()
            if row is not None and row[0] == "running" and owner_alive(*row[1:]):
                raise RunBusyError(
                    f"run {run_id} is still running (pid {row[1]} on {row[2]}); "
                    "wait for it to finish or stop it (Ctrl-C / SIGTERM) before resuming"
                )
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, started_at, status, model, version, profiles, "
                "owner_pid, owner_host, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    utc_now().isoformat(),
                    "running",
                    model,
                    version,
                    ",".join(profiles),
                    os.getpid(),
                    socket.gethostname(),
                    time.time(),
                ),
            )

    def heartbeat(self, run_id: str) -> threading.Event:
        """Refresh this run's heartbeat until the returned event is set."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    with self._db() as db:
                        db.execute(
                            "UPDATE runs SET heartbeat_at=? WHERE run_id=? AND owner_pid=?",
                            (time.time(), run_id, os.getpid()),
                        )
                except sqlite3.Error:
                    continue  # a busy file: the next beat tries again, well within the timeout

        threading.Thread(target=beat, name=f"edgeops-run-{run_id}", daemon=True).start()
        return stop

    def finished(
        self,
        run_id: str,
        status: str,
        results: Results | None = None,
        bundle: Path | None = None,
        error: str | None = None,
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, status=?, bundle=?, variants=?, measurements=?, cache=?, error=? "
                "WHERE run_id=?",
                (
                    utc_now().isoformat(),
                    status,
                    # Absolute: `edgeops studio` finds bundles from any folder.
                    str(bundle.resolve()) if bundle else None,
                    len(results.variants) if results else None,
                    len(results.measurements) if results else None,
                    json.dumps(results.cache.model_dump()) if results else None,
                    error,
                    run_id,
                ),
            )

    def last_unfinished(self) -> str | None:
        """The newest run that was interrupted, failed or died: what `ship --resume` continues.

        A run still running in another process is not one (resuming it would measure twice).
        """
        for run in self.runs():
            if run.status in {"interrupted", "failed", "dead", "device_failed"}:
                return run.run_id
        return None

    def last_release(self, model: str) -> Path | None:
        """The bundle of the newest finished ship of ``model`` that still exists, if any.

        What ``ship`` prefers among tied candidates when no ``--baseline`` is given,
        so an unchanged model does not change its primary on noise.
        """
        for run in self.runs():
            if run.model == model and run.status in {"ok", "unsupported"} and run.bundle:
                bundle = Path(run.bundle)
                if (bundle / "results.json").is_file():
                    return bundle
        return None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        """Newest first; a ``running`` row whose owner is gone reads as ``dead``."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT run_id, started_at, finished_at, status, model, version, profiles, bundle, "
                "variants, measurements, cache, error, owner_pid, owner_host, heartbeat_at "
                "FROM runs ORDER BY started_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        out = []
        for row in rows:
            record = RunRecord(*row[:12])
            if record.status == "running" and not owner_alive(*row[12:]):
                record = dataclasses.replace(record, status="dead")
            out.append(record)
        return out


def owner_alive(pid: int | None, host: str | None, heartbeat_at: float | None) -> bool:
    """Alive: a fresh heartbeat and, on this machine, the process still exists."""
    if pid is None or heartbeat_at is None:
        return False  # a row from before owners were recorded: nobody can be heartbeating it
    if time.time() - heartbeat_at > OWNER_TIMEOUT_S:
        return False
    if host == socket.gethostname():
        from edgeops.files import pid_alive

        return pid_alive(int(pid))
    return True


# The heartbeats of the runs this process owns, stopped when each run finishes.
_beating: dict[tuple[Path, str], threading.Event] = {}


@hookimpl
def edgeops_run_started(
    workspace: Path, run_id: str, model: str, version: str, profiles: list[str]
) -> None:
    """The core's record of a run: ``running``, owned by this process, with a heartbeat."""
    history = History(workspace / HISTORY_FILE)
    history.started(run_id, model, version, profiles)
    _beating[(workspace, run_id)] = history.heartbeat(run_id)


@hookimpl
def edgeops_run_finished(
    workspace: Path,
    run_id: str,
    status: str,
    results: Results | None,
    bundle: Path | None,
    error: str | None,
) -> None:
    beating = _beating.pop((workspace, run_id), None)
    if beating is not None:
        beating.set()
    History(workspace / HISTORY_FILE).finished(run_id, status, results, bundle=bundle, error=error)
