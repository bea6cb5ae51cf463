"""What the studio may read: the run history and the bundles it names, nothing else.

It never writes into the workspace or a bundle: the history is opened with
SQLite's read-only URI mode (``mode=ro``), so not even the table is created,
and images of samples are rendered in memory. Every name that comes from a URL
is checked here before it touches the file system:

- a run id must match the shape edgeops makes (12 hex digits) and exist in the history;
- a bundle is the one the history recorded for that run, and its ``results.json``
  must carry the same run id (a later ship of the same version overwrites it);
- a file of a bundle must be one the bundle itself lists (its report, or a PNG its
  ``gallery.json`` names), and resolve inside the bundle (no ``..`` or symlink out);
- a sample set is named by its sha256 from a run's results, and its ``.npz`` must
  resolve inside the workspace's cache.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeops.errors import EdgeopsError, ResultsError
from edgeops.files import MAX_RESULTS_BYTES, read_regular
from edgeops.models import Results, SampleSet
from edgeops.pipeline.history import RunRecord
from edgeops.report.gallery import Gallery, first_input_of, read_gallery

if TYPE_CHECKING:
    from edgeops.gate.sessions import SessionSpread

RUN_ID = re.compile(r"^[0-9a-f]{12}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Files of a bundle served as they are, besides the gallery's PNGs.
BUNDLE_FILES = {"report.html": "text/html", "report.md": "text/markdown"}


@dataclass(frozen=True)
class SampleSetInfo:
    samples: SampleSet
    input_name: str | None
    value_range: tuple[float, float]
    runs: tuple[str, ...]
    models: tuple[str, ...]


class StudioData:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace.resolve()
        self.history_path = self.workspace / "runs.sqlite"
        self._lock = threading.Lock()
        self._results: dict[Path, tuple[float, Results | None]] = {}

    # ----------------------------------------------------------------------- history

    def runs(self) -> list[RunRecord]:
        if not self.history_path.is_file():
            return []
        uri = f"{self.history_path.as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            try:
                rows = db.execute(
                    "SELECT run_id, started_at, finished_at, status, model, version, profiles, "
                    "bundle, variants, measurements, cache, error FROM runs ORDER BY started_at DESC"
                ).fetchall()
            except sqlite3.OperationalError:
                return []  # an empty database: no runs table yet
        return [RunRecord(*row) for row in rows]

    def run(self, run_id: str) -> RunRecord | None:
        if not RUN_ID.fullmatch(run_id):
            return None
        return next((r for r in self.runs() if r.run_id == run_id), None)

    def models(self) -> dict[str, list[RunRecord]]:
        grouped: dict[str, list[RunRecord]] = {}
        for run in self.runs():
            grouped.setdefault(run.model, []).append(run)
        return grouped

    def session_spreads(self) -> dict[str, SessionSpread]:
        """Each profile's session-to-session spread on unchanged files, as `edgeops history` shows."""
        from edgeops.gate.sessions import HISTORY_RUNS, spreads_by_profile

        finished = [r for r in self.runs() if r.status in {"ok", "unsupported"}][:HISTORY_RUNS]
        return spreads_by_profile(r for r in map(self.results, finished) if r is not None)

    # ----------------------------------------------------------------------- bundles

    def bundle(self, run: RunRecord) -> Path | None:
        """The run's bundle, if it is still the one that run wrote."""
        if not run.bundle:
            return None
        path = Path(run.bundle)
        if not path.is_absolute():
            # Histories written before bundles were recorded absolute: relative to
            # the folder ship ran in, which holds the default workspace.
            path = self.workspace.parent / path
        path = path.resolve()
        results = self._read_results(path / "results.json")
        if results is None or results.run_id != run.run_id:
            return None
        return path

    def results(self, run: RunRecord) -> Results | None:
        bundle = self.bundle(run)
        return self._read_results(bundle / "results.json") if bundle else None

    def gallery(self, run: RunRecord) -> Gallery | None:
        bundle = self.bundle(run)
        return read_gallery(bundle) if bundle else None

    def bundle_file(self, run: RunRecord, name: str) -> Path | None:
        """A file of the run's bundle by the name a page linked, or None."""
        bundle = self.bundle(run)
        if bundle is None:
            return None
        allowed = set(BUNDLE_FILES)
        gallery = read_gallery(bundle)
        if gallery is not None:
            allowed |= gallery.files()
        if name not in allowed:
            return None
        return confined(bundle, name)

    def _read_results(self, path: Path) -> Results | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        with self._lock:
            cached = self._results.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
        try:
            raw = read_regular(path, "results", MAX_RESULTS_BYTES, ResultsError)
            results: Results | None = Results.model_validate_json(raw)
        except (EdgeopsError, OSError, ValueError):
            results = None
        with self._lock:
            self._results[path] = (mtime, results)
        return results

    # ----------------------------------------------------------------------- samples

    def sample_sets(self) -> dict[str, SampleSetInfo]:
        found: dict[str, SampleSetInfo] = {}
        for run in self.runs():
            results = self.results(run)
            if results is None or results.samples is None:
                continue
            s = results.samples
            first = first_input_of(results)
            info = found.get(s.sha256)
            found[s.sha256] = SampleSetInfo(
                samples=s,
                input_name=first.name if first else None,
                value_range=first.value_range if first else (0.0, 1.0),
                runs=(*(info.runs if info else ()), run.run_id),
                models=tuple(dict.fromkeys((*(info.models if info else ()), run.model))),
            )
        return found

    def sample_png(self, sha256: str, index: int) -> bytes | None:
        """One sample's first input as a PNG, rendered in memory."""
        if not SHA256.fullmatch(sha256) or index < 0:
            return None
        info = self.sample_sets().get(sha256)
        if info is None or info.input_name is None or index >= info.samples.count:
            return None
        path = Path(info.samples.path)
        if not path.is_absolute():
            path = self.workspace.parent / path  # a relative workspace, as ship saw it
        found = confined(self.workspace, path)
        if found is None:
            return None
        from edgeops.pipeline.samples import load_arrays
        from edgeops.report.gallery import as_image
        from edgeops.report.png import png_bytes

        try:
            array = load_arrays(found).get(f"{info.input_name}/{index}")
        except (EdgeopsError, OSError, ValueError):
            return None  # a results.json naming a file that is no samples archive
        image = as_image(array, info.value_range) if array is not None else None
        return png_bytes(image) if image is not None else None


def confined(root: Path, name: str | Path) -> Path | None:
    """``root/name`` if it is an existing file that resolves inside ``root``, else None.

    Resolving first follows every ``..`` and symlink, so a link inside the
    bundle that points out of it is refused like a ``../`` in the name.
    """
    root = root.resolve()
    candidate = Path(name)
    if not candidate.is_absolute():
        if "\\" in str(name) or "\x00" in str(name):
            return None
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved
