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
# The file-name limit counts bytes, not characters: 80 CJK characters are 240
# bytes of UTF-8, and 60 emoji 240. A name is bounded in both, up front, so it
# cannot pass here and fail when the bundle is written after all the measuring.
MAX_NAME_BYTES = 100
# What ext4 and APFS allow for one path component: the bound of a joined name.
MAX_FILE_NAME_BYTES = 255


def check_name(value: object, what: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``value`` if it is safe as one path component, else a UsageError naming ``what``.

    ``max_bytes`` bounds the UTF-8 length; a name joined from checked names (a
    variant's file) passes ``MAX_FILE_NAME_BYTES``.
    """
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a string, not {type(value).__name__}; quote it")
    shown = value if len(value) <= 40 else value[:40] + "…"
    if not value:
        raise UsageError(f"{what} is empty; give it a name such as 'segmenter' or '1.0.0'")
    max_chars = MAX_NAME_CHARS if max_bytes <= MAX_NAME_BYTES else max_bytes
    if len(value) > max_chars:
        raise UsageError(f"{what} is {len(value)} characters long; use at most {max_chars}")
    encoded = len(value.encode("utf-8", "surrogatepass"))
    if encoded > max_bytes:
        raise UsageError(
            f"{what} {value[:20]!r}… is {encoded} bytes in UTF-8 ({len(value)} characters); "
            f"use at most {max_bytes} bytes (about {max_bytes // 3} CJK characters)"
        )
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
