"""The content-addressed cache under ``.edgeops/cache``.

An entry is a folder ``<kind>/<key>/`` holding the files a stage made and
``entry.json``, the pydantic model describing them, with paths stored relative
to the entry so a workspace can move. An entry appears by one rename of a
finished folder: it is whole or absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from edgeops.errors import EdgeopsError
from edgeops.files import sha256_json, sha256_tree

M = TypeVar("M", bound=BaseModel)
ENTRY_FILE = "entry.json"


def cache_key(*parts: object) -> str:
    return sha256_json(
        [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts]
    )[:24]


class Cache:
    """Entries by kind and key. With ``refresh`` (``--no-cache``) an entry not made by this
    Cache reads as absent and a new one replaces it, so an edited plugin or a doubt
    about the cache costs one flag, not a deleted folder."""

    def __init__(
        self,
        root: Path,
        refresh: bool = False,
        report: Callable[[str], object] | None = None,
    ) -> None:
        self.root = root
        self.refresh = refresh
        # Where an evicted entry is announced: one line on stderr, beside the progress.
        self.report = report
        self._made: set[tuple[str, str]] = set()

    def entry_dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str, model_type: type[M]) -> M | None:
        entry = self.entry_dir(kind, key) / ENTRY_FILE
        if not entry.is_file() or (self.refresh and (kind, key) not in self._made):
            return None
        # The entry's time is its last use: what `edgeops cache prune` goes by.
        with contextlib.suppress(OSError):
            os.utime(entry)
        try:
            model = model_type.model_validate_json(entry.read_text())
        except ValueError:
            return None  # an entry from another schema version: make it again
        model = _with_path(model, lambda rel: entry.parent / rel)
        if (kind, key) not in self._made:
            fault = _entry_fault(model, entry.parent)
            if fault:
                self.evict(kind, key, fault)
                return None
        return model

    def evict(self, kind: str, key: str, reason: str) -> None:
        """Remove a bad entry (renamed aside first, as prune does) and say so: the
        caller then builds it again, as on a miss."""
        folder = self.entry_dir(kind, key)
        aside = folder.with_name(f".{key}.evicted-{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
        (self.report or sys.stderr.write)(
            f"edgeops: cache entry {kind}/{key} failed its check ({reason}); "
            "removed it and building it again\n"
        )

    def put(self, kind: str, key: str, build: Callable[[Path], M]) -> M:
        """Run ``build(workdir)``; keep its files and returned model as one entry."""
        final = self.entry_dir(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.", suffix=".tmp"))
        try:
            model = build(workdir)
            stored = _with_path(model, lambda p: Path(p).relative_to(workdir))
            (workdir / ENTRY_FILE).write_text(stored.model_dump_json(indent=2))
            try:
                os.rename(workdir, final)
            except OSError:
                if self.refresh and final.is_dir():
                    # Replace the old entry: move it aside (a name the stale-temporary
                    # sweep removes if we die here), then rename the new one in.
                    old = final.with_name(f".{key}.old-{os.getpid()}.tmp")
                    os.rename(final, old)
                    os.rename(workdir, final)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    # Another process finished the same entry first; its copy is as good.
                    shutil.rmtree(workdir, ignore_errors=True)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        self._made.add((kind, key))
        entry = self.get(kind, key, type(model))
        assert entry is not None
        return entry

    def get_value(self, kind: str, key: str, model_type: type[M]) -> M | None:
        """A small cached model with no files (a Quality, a Measurement)."""
        return self.get(kind, key, model_type)

    def put_value(self, kind: str, key: str, model: M) -> M:
        return self.put(kind, key, lambda _workdir: model)

    def clear_stale_temporaries(self, older_than_s: float = 6 * 3600) -> None:
        """Remove folders left by a process killed mid-build (SIGKILL skips our cleanup).

        Only old ones: a young one may belong to a build running in another process.
        """
        if not self.root.is_dir():
            return
        now = time.time()
        for tmp in self.root.glob("*/.*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.is_dir() and now - tmp.stat().st_mtime > older_than_s:
                    shutil.rmtree(tmp)


@dataclass(frozen=True)
class PruneReport:
    entries_removed: int
    bytes_freed: int
    entries_kept: int


def prune(cache: Cache, older_than_s: float) -> PruneReport:
    """Remove entries last used more than ``older_than_s`` ago (0: every entry), and
    temporaries of killed builds. An entry is removed by renaming it aside first, so a
    run reading the cache never sees half an entry."""
    removed = freed = kept = 0
    now = time.time()
    if not cache.root.is_dir():
        return PruneReport(0, 0, 0)
    for entry in sorted(cache.root.glob(f"*/*/{ENTRY_FILE}")):
        folder = entry.parent
        if folder.name.startswith("."):
            continue
        try:
            age_s = now - entry.stat().st_mtime
        except OSError:
            continue
        if age_s < older_than_s:
            kept += 1
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        aside = folder.with_name(f".{folder.name}.pruned-{os.getpid()}.tmp")
        try:
            os.rename(folder, aside)
        except OSError:
            continue
        shutil.rmtree(aside, ignore_errors=True)
        removed, freed = removed + 1, freed + size
    # Temporaries keep their own 6-hour bound: a young one is another run's build.
    cache.clear_stale_temporaries()
    return PruneReport(removed, freed, kept)


def _entry_fault(model: BaseModel, folder: Path) -> str:
    """Why an entry's file cannot be used as it is ("" when it can).

    A cached file is checked where it is used, not only when a bundle copies it:
    flipped bytes, a file swapped for a link, or a path that leaves the entry would
    otherwise be measured and scored as if they were the variant.
    """
    path, sha256 = getattr(model, "path", None), getattr(model, "sha256", None)
    if path is None or sha256 is None:
        return ""
    path = Path(path)
    if path.is_symlink():
        return f"{path.name} is a symbolic link"
    root = folder.resolve()
    if root not in path.resolve().parents:
        return f"{path.name} is outside the entry"
    if not path.exists():
        return f"{path.name} is missing"
    if path.is_dir():
        leaving = (p for p in path.rglob("*") if p.is_symlink() and root not in p.resolve().parents)
        if next(leaving, None) is not None:
            return f"{path.name} holds a link leaving the entry"
    elif not path.is_file():
        return f"{path.name} is not a regular file"
    try:
        found = sha256_tree(path)
    except (EdgeopsError, OSError) as exc:
        return str(exc)
    if found != sha256:
        return f"{path.name} has sha256 {found[:12]}…, the entry records {sha256[:12]}…"
    return ""


def _with_path(model: M, convert: Callable[[Path], Path]) -> M:
    path = getattr(model, "path", None)
    if path is None:
        return model
    return model.model_copy(update={"path": convert(Path(path))})
