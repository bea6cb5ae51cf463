"""The probe as it goes to a device: its files, as one zip application.

The probe is split in modules (``probe.py`` and its sibling ``probe_runners.py``) that
must land side by side under their own names for ``probe.py`` to import its sibling.
A session's push names each file by its content (``<sha256>-probe.py`` over SSH,
``probe-<sha>.py`` over adb) and adb pushes no folders, so the set goes as one file:
a zip with the probe as ``__main__.py``, which ``python3 probe.pyz ...`` runs with the
archive on ``sys.path``. The zip is byte-identical for the same files (fixed times and
modes, stored), so the sessions' content-addressed push still skips it when the device
has it.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from edgeops.devices import probe, probe_runners
from edgeops.devices.sessions import Session

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip holds: no build time in the bytes
_LOCK = threading.Lock()
_BUILT: dict[str, Path] = {}


def probe_files() -> list[Path]:
    """Every file the probe needs on a device, the probe itself first."""
    return [Path(probe.__file__), Path(probe_runners.__file__)]


def probe_archive() -> Path:
    """The probe's files as one zip application, built once per content in this process.

    It lives in a temporary folder removed at exit: a local session's push hands back the
    file itself, so it must outlast every run of the probe, not just the push.
    """
    files = probe_files()
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    with _LOCK:
        if digest in _BUILT and _BUILT[digest].is_file():
            return _BUILT[digest]
        folder = Path(tempfile.mkdtemp(prefix="edgeops-probe-"))
        atexit.register(shutil.rmtree, folder, True)
        _BUILT[digest] = write_probe_archive(folder / "probe.pyz", files)
        return _BUILT[digest]


def write_probe_archive(archive: Path, files: list[Path]) -> Path:
    """Write ``files`` (the probe first, which becomes ``__main__.py``) as a zip application;
    the same files give the same bytes."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        for name, file in (("__main__.py", files[0]), *((f.name, f) for f in files[1:])):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            bundle.writestr(info, file.read_bytes())
    return archive


def push_probe(session: Session) -> str:
    """Push the probe (all its files, as one archive) and return its path on the device,
    the one to run with ``session.python``."""
    return session.push(probe_archive())
