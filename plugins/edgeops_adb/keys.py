"""The host's adb RSA key: made once, kept private (mode 0600), like adb's own ~/.android/adbkey."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

KEY_ENV = "EDGEOPS_ADB_KEY"
DEFAULT_KEY_PATH = Path("~/.config/edgeops/adbkey")
PRIVATE_MODE = 0o600


# The key Android's own adb made: a phone that already trusts this computer trusts it,
# so reusing it spares the user a second "Allow USB debugging?" prompt.
ADB_KEY_PATH = Path("~/.android/adbkey")


def key_path(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$EDGEOPS_ADB_KEY``, else adb's own ``~/.android/adbkey`` when it
    exists, else edgeops's own key (made on first use)."""
    if explicit is not None:
        return explicit.expanduser()
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    adb_key = ADB_KEY_PATH.expanduser()
    if adb_key.is_file():
        return adb_key
    return DEFAULT_KEY_PATH.expanduser()


def ensure_key(path: Path) -> Path:
    """Generate the key pair at ``path`` (and ``path.pub``) unless it exists; return ``path``.

    Phones remember the key the user accepted, so making a new one on every run
    would ask again each time. The private half is written with mode 0600 from
    the start (umask), never widened and then narrowed.
    """
    if path.is_file():
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_MODE)  # an older copy left readable by others
        return path
    from adb_shell.auth.keygen import keygen

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=".adbkey."))
    old_umask = os.umask(0o077)
    try:
        keygen(str(staging / "adbkey"))
        (staging / "adbkey").chmod(PRIVATE_MODE)
        # Public half first: a private key never exists without its .pub beside it.
        os.replace(staging / "adbkey.pub", path.with_name(path.name + ".pub"))
        os.replace(staging / "adbkey", path)
    finally:
        os.umask(old_umask)
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    return path


def signer(path: Path) -> Any:
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    return PythonRSASigner.FromRSAKeyPath(str(ensure_key(path)))
