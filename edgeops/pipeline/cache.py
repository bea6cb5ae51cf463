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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from edgeops.files import sha256_json

M = TypeVar("M", bound=BaseModel)
ENTRY_FILE = "entry.json"


def cache_key(*parts: object) -> str:
    return sha256_json(
        [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts]
    )[:24]


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry_dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str, model_type: type[M]) -> M | None:
        entry = self.entry_dir(kind, key) / ENTRY_FILE
        if not entry.is_file():
            return None
        try:
            model = model_type.model_validate_json(entry.read_text())
        except ValueError:
            return None  # an entry from another schema version: make it again
        return _with_path(model, lambda rel: entry.parent / rel)

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
                # Another process finished the same entry first; its copy is as good.
                shutil.rmtree(workdir, ignore_errors=True)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
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


def _with_path(model: M, convert: Callable[[Path], Path]) -> M:
    path = getattr(model, "path", None)
    if path is None:
        return model
    return model.model_copy(update={"path": convert(Path(path))})
