"""``.edgeops/``: where a run keeps its cache, its history and its journals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeops.pipeline.cache import Cache
from edgeops.pipeline.history import HISTORY_FILE
from edgeops.pipeline.journal import RunJournal


@dataclass
class Workspace:
    """``.edgeops/``: the cache and the run history."""

    root: Path
    # --no-cache: make everything again (measurements included) and replace the entries.
    refresh_cache: bool = False

    @property
    def cache(self) -> Cache:
        return Cache(self.root / "cache", refresh=self.refresh_cache)

    @property
    def history_path(self) -> Path:
        return self.root / HISTORY_FILE

    def journal(self, run_id: str) -> RunJournal:
        return RunJournal(self.root / "runs" / run_id)
