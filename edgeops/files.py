"""Checked reads, atomic writes and content hashes.

Everything edgeops writes goes to a temporary path beside its destination and
is renamed into place, so Ctrl-C or a crash never leaves a half-written file,
cache entry or bundle.

Every file a user names (a model, samples, a config, a results.json, a bundle's
files) is opened through ``open_regular``: anything that is not a regular file
is refused before it is read, so a FIFO cannot hang a run and a link to
``/dev/zero`` cannot be read without end. Sizes come from ``fstat`` of the
opened file, never from a path that could be swapped in between.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from edgeops.errors import EdgeopsError, ModelError

_CHUNK_BYTES = 1 << 20
# A config, inventory or profile is a page of TOML; a file past this is the wrong file.
MAX_CONFIG_BYTES = 1 << 20
# A real run's results.json is a few MB (2 M samples are about 52 MB indented);
# past this it is not a run's results, and is refused before it is parsed.
MAX_RESULTS_BYTES = 128 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refusal(path: Path, what: str, mode: int) -> str:
    link = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    return f"{what} {path}{link} is {_kind(mode)}, not a regular file; pass the file itself"


def check_regular(path: Path, what: str, error: type[EdgeopsError] = ModelError) -> int:
    """The size of ``path`` if it is a regular file (links followed); else ``error``."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} not found; check the path") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path} ({exc.strerror}); check the path") from exc
    if not stat.S_ISREG(found.st_mode):
        raise error(_refusal(path, what, found.st_mode))
    return found.st_size


def open_regular(path: Path, what: str, error: type[EdgeopsError] = ModelError) -> BinaryIO:
    """Open a user-named file for reading; anything but a regular file is ``error``.

    The stat before opening refuses a FIFO without blocking on it; O_NONBLOCK
    and the fstat after opening close the gap where the path is swapped for a
    FIFO or a device in between (what is checked is what was opened).
    """
    check_regular(path, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {path} ({exc.strerror}); check the path") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(_refusal(path, what, mode))
    return os.fdopen(fd, "rb")


def read_regular(
    path: Path, what: str, max_bytes: int, error: type[EdgeopsError] = ModelError
) -> bytes:
    """The bytes of a user-named regular file of at most ``max_bytes`` (checked first)."""
    with open_regular(path, what, error) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(max_bytes + 1) if size <= max_bytes else b""
        if size > max_bytes or len(data) > max_bytes:
            raise error(
                f"{what} {path} is {max(size, len(data)) / 2**20:.1f} MB, over the "
                f"{max_bytes / 2**20:.0f} MB bound for a {what}; pass the right file"
            )
    return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path, "file") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(path: Path) -> str:
    """Hash of a file, or of a folder's relative paths and contents (an .mlpackage).

    A path that is neither (a FIFO, a device) is refused, not hashed as empty.
    """
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if not p.is_dir()):
        digest.update(child.relative_to(path).as_posix().encode())
        digest.update(sha256_file(child).encode())
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    if not path.is_dir():
        return check_regular(path, "file")
    return sum(check_regular(p, "file") for p in path.rglob("*") if not p.is_dir())


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def user_umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (macOS): read it by setting it, then put it back
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """0666 less the user's umask: what ``open()`` would give (mkstemp gives 0600)."""
    return 0o666 & ~user_umask()


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), default_file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported.

    With it, replacing a folder has no moment where the old one is gone and the
    new one not yet there, so a kill at any point leaves one of them in place.
    """
    if sys.platform != "linux":
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)  # glibc 2.28+
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h>, <linux/fs.h>
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot
            return False
        raise OSError(errno, os.strerror(errno), str(b))
    return True


def _temp_prefix(final: Path) -> str:
    # The pid in the name lets a later run tell a dead process's leftovers from a live one's.
    return f".{final.name}.{os.getpid()}."


def clear_dead_temporaries(final: Path) -> None:
    """Remove ``final``'s staging folders left by processes that no longer run (SIGKILL)."""
    if not final.parent.is_dir():
        return
    for tmp in final.parent.glob(f".{glob.escape(final.name)}.*.*.tmp"):
        pid_text = tmp.name[len(final.name) + 2 :].split(".", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that becomes ``final`` only if the block succeeds.

    An existing ``final`` is replaced whole, never merged, and stays in place
    until the new one is complete: the two are swapped in one step where the
    system can, so no kill leaves the old one hidden under a temporary name.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    clear_dead_temporaries(final)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_temp_prefix(final), suffix=".tmp"))
    try:
        yield tmp
        # mkdtemp makes 0700; a bundle is for the team, as a plain mkdir would make it.
        os.chmod(tmp, 0o777 & ~user_umask())
        if final.exists() or final.is_symlink():
            if final.is_symlink() or not final.is_dir():
                raise FileExistsError(f"{final} exists and is not a folder")
            if _exchange(tmp, final):
                shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
                return
            # No atomic swap here: the old folder gets a visible name for the instant
            # between the two renames, never a hidden one.
            old = final.with_name(f"{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_file(src: Path, dst: Path) -> None:
    """Copy a file (or a folder model such as .mlpackage) atomically.

    A link inside a folder model that points outside it is refused, not followed:
    a package must not carry in files from elsewhere on the machine.
    """
    if src.is_dir():
        check_links_inside(src)
        for child in src.rglob("*"):
            if not child.is_dir() and not child.is_symlink():
                check_regular(child, "file in the folder model")
        with staged_dir(dst) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True, symlinks=True)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with open_regular(src, "file") as reader, os.fdopen(fd, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK_BYTES)
        os.chmod(tmp_name, default_file_mode())
        os.replace(tmp_name, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def check_links_inside(folder: Path) -> None:
    """Refuse a folder holding a symbolic link that resolves outside it."""
    root = folder.resolve()
    for path in folder.rglob("*"):
        if path.is_symlink():
            target = path.resolve()
            if target != root and root not in target.parents:
                raise ModelError(
                    f"{path} links to {target}, outside {folder}; "
                    "replace the link with the file itself"
                )
