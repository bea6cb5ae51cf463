"""Run history in ``.edgeops/runs.sqlite``, read by ``edgeops history``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            yield db

    def started(self, run_id: str, model: str, version: str, profiles: list[str]) -> None:
        """Record a run as running; a resumed run's row is reset to running."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, started_at, status, model, version, profiles) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, utc_now().isoformat(), "running", model, version, ",".join(profiles)),
            )

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
        """The newest run that was interrupted or failed: what `ship --resume` continues."""
        for run in self.runs():
            if run.status in {"interrupted", "failed", "running"}:
                return run.run_id
        return None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT run_id, started_at, finished_at, status, model, version, profiles, bundle, "
                "variants, measurements, cache, error FROM runs ORDER BY started_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [RunRecord(*row) for row in rows]
