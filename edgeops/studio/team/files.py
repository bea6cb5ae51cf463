"""The file store: a folder of files named by their sha256 (``ab/cd/abcd…``).

Content-addressed, so a file is written once however many runs hold it, and a
write is never partial: the bytes go to a temporary file in the store, are
flushed to disk, and are renamed to their hash. Nothing a request or a bundle
names becomes a path here; only a 64-hex-digit hash does.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 1 << 20


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put_bytes(self, data: bytes) -> str:
        return self.put_chunks([data])

    def put_file(self, path: Path) -> str:
        def chunks() -> Iterable[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk

        return self.put_chunks(chunks())

    def put_chunks(self, chunks: Iterable[bytes]) -> str:
        """Store the bytes; returns their sha256. A crash leaves at most a temporary file."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            if final.is_file():
                os.unlink(tmp)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
            return sha
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
