"""What an upload to the studio may be. Every rule is checked on the bytes, before storing.

- a request is at most :data:`MAX_UPLOAD_BYTES` (its Content-Length, and counted as read);
- a file is a PNG, a JPEG or a ``.npy`` by its content (magic bytes, then decoded:
  an image within :data:`MAX_IMAGE_PIXELS`, an array without pickles), or a ``.zip``
  of those whose member names are plain file names (no folder, ``..``, absolute path,
  backslash or NUL: a zip-slip name refuses the whole upload);
- a sample set's name is a plain name (``[A-Za-z0-9][A-Za-z0-9._-]*``), never a path;
- the name a file had on the uploader's machine is kept only as a label, cleaned.

Stored files are named by their sha256 (:mod:`.files`); nothing a request names is a path.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request

# One upload request (a sample set, an image to try).
MAX_UPLOAD_BYTES = 64 * 1024**2
# One file in it, or in a zip.
MAX_FILE_BYTES = 16 * 1024**2
# Files in one sample set.
MAX_FILES = 256
# Decoded pixels of one image (4096 x 4096): a small PNG cannot expand into gigabytes.
MAX_IMAGE_PIXELS = 4096 * 4096
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


class UploadError(ValueError):
    """An upload refused; the message says why and is shown to the user (HTTP 4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Checked:
    label: str
    kind: str  # png, jpeg or npy
    data: bytes


def check_name(name: str, what: str = "sample set name") -> str:
    if not NAME.fullmatch(name or ""):
        raise UploadError(
            f"{what} {name[:80]!r} is not a plain name: use letters, digits, '.', '_', '-' "
            "(no paths)"
        )
    return name


def label_of(filename: str | None, index: int) -> str:
    """A display label from the uploader's file name: its last part, cleaned; never a path."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:80]
    return cleaned or f"sample-{index}"


def kind_of(data: bytes) -> str | None:
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(NPY_MAGIC):
        return "npy"
    if data.startswith(ZIP_MAGIC):
        return "zip"
    return None


def check_file(label: str, data: bytes) -> list[Checked]:
    """One uploaded file as the samples it holds (a zip holds several)."""
    if len(data) > MAX_FILE_BYTES:
        raise UploadError(f"{label} is over {MAX_FILE_BYTES // 1024**2} MB", status=413)
    kind = kind_of(data)
    if kind is None:
        raise UploadError(
            f"{label} is not a PNG, JPEG, .npy or .zip of those (by its content)", status=415
        )
    if kind == "zip":
        return check_zip(label, data)
    if kind == "npy":
        check_npy(label, data)
    else:
        decode_image(label, data)
    return [Checked(label, kind, data)]


def check_zip(label: str, data: bytes) -> list[Checked]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{label} is not a readable zip") from exc
    found: list[Checked] = []
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_FILES:
            raise UploadError(f"{label} holds more than {MAX_FILES} files", status=413)
        for info in infos:
            name = info.filename
            if (
                "/" in name
                or "\\" in name
                or "\x00" in name
                or name.startswith(".")
                or ":" in name
                or not name
            ):
                raise UploadError(
                    f"{label} holds {name[:80]!r}, which is not a plain file name "
                    "(folders, '..' and absolute paths are refused)"
                )
            if info.file_size > MAX_FILE_BYTES:
                raise UploadError(f"{label}: {name} is over the size limit", status=413)
            inner = archive.read(info)
            kind = kind_of(inner)
            if kind not in ("png", "jpeg", "npy"):
                raise UploadError(f"{label}: {name} is not a PNG, JPEG or .npy", status=415)
            found.extend(check_file(label_of(name, len(found)), inner))
    return found


def check_npy(label: str, data: bytes) -> None:
    import numpy as np

    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UploadError(f"{label} is not a readable .npy without pickles") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise UploadError(f"{label} is not a numeric array")


def decode_image(label: str, data: bytes) -> object:
    """The image as an H x W x 3 uint8 array, or an UploadError."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise UploadError(
                    f"{label} is {image.width}x{image.height}, over {MAX_IMAGE_PIXELS} pixels",
                    status=413,
                )
            return np.asarray(image.convert("RGB"))
    except UploadError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(f"{label} does not decode as an image ({exc})") from exc


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) past ``limit`` bytes, declared or counted as read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise UploadError(f"the upload is over {limit // 1024**2} MB", status=413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise UploadError(f"the upload is over {limit // 1024**2} MB", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def bounded_form(request: Request) -> Any:
    """The multipart form, refused (413) before parsing when it declares too many bytes."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise UploadError("an upload needs a Content-Length", status=411)
    if int(declared) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the upload is over {MAX_UPLOAD_BYTES // 1024**2} MB", status=413)
    try:
        return await request.form(
            max_files=MAX_FILES,
            max_fields=20,
            max_part_size=MAX_FILE_BYTES + 1,
        )
    except Exception as exc:  # the multipart parser's own refusals (too many parts, bad bodies)
        raise UploadError(f"the form could not be read ({str(exc)[:200]})") from exc
