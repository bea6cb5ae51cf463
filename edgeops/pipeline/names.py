"""Names that become parts of paths: model names, versions, recipe names, device ids.

A name from a config, a flag, a plugin or a results file is never joined onto a
folder unchecked. ``check_name`` refuses separators, ``..``, control characters
and over-long names before any work starts; ``inside`` is the second line of
defence where a path is built, so a name that slipped past still cannot leave
its folder.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from edgeops.errors import UsageError

# 100 leaves room under the common 255-byte file-name limit (ext4, APFS) for
# the "<name>-<version>" bundle folder and "<name>-<format>-<recipe>-<id>.ext"
# variant files, each made of up to three names.
MAX_NAME_CHARS = 100


def check_name(value: object, what: str) -> str:
    """``value`` if it is safe as one path component, else a UsageError naming ``what``."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a string, not {type(value).__name__}; quote it")
    shown = value if len(value) <= 40 else value[:40] + "…"
    if not value:
        raise UsageError(f"{what} is empty; give it a name such as 'segmenter' or '1.0.0'")
    if len(value) > MAX_NAME_CHARS:
        raise UsageError(f"{what} is {len(value)} characters long; use at most {MAX_NAME_CHARS}")
    if "/" in value or "\\" in value:
        raise UsageError(f"{what} {shown!r} contains a path separator; use a plain name")
    if value in {".", ".."} or ".." in value:
        raise UsageError(f"{what} {shown!r} contains '..'; use a plain name")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise UsageError(f"{what} {shown!r} contains a control character; use a plain name")
    if value.startswith((".", "-")) or value != value.strip():
        raise UsageError(
            f"{what} {shown!r} starts with '.', '-' or a space, or ends with a space; "
            "use a plain name"
        )
    return value


def inside(folder: Path, *parts: str) -> Path:
    """``folder / parts`` after checking each part and that the result stays in ``folder``."""
    for part in parts:
        check_name(part, "path component")
    path = folder.joinpath(*parts)
    root = folder.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UsageError(f"{path} leaves {folder}; refusing to write there")
    return path


def safe_name(value: str) -> str:
    """A valid name made from ``value`` (a file's stem, a label): the default when none is
    given, so "my model (v2).onnx" ships as "my-model-v2" instead of failing."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", value).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:MAX_NAME_CHARS]
    return cleaned.rstrip(".-") or "model"
