"""An open SSH connection to one board, as an edgeops Session (push, run, close).

- Host keys are checked against known_hosts (``host_keys``); unknown or changed
  keys are refused. Authentication is by key: ``device.key_path``, and the
  ssh-agent where one runs.
- Every command is one ``shlex.join`` of an argv list, run under a fixed
  ``sh`` wrapper (see ``_WRAPPER``), and every call has a deadline.
- ``push`` copies a file by SFTP into a cache on the board named by its
  sha256, verifies the hash there, and skips the copy when the board has it.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import re
import secrets
import select
import shlex
import tempfile
import time
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko

from edgeops.plugin import (
    PINNED_CPUS_LABEL,
    CommandResult,
    Device,
    DeviceError,
    sha256_file,
    sha256_tree,
)

from .host_keys import (
    UnknownHostKey,
    changed_key_message,
    load_known_hosts,
    parse_address,
    unknown_key_message,
)

CONNECT_TIMEOUT_S = 10.0

# paramiko's transport thread logs each failure with its traceback through
# logging, which without a handler prints to stderr: four tracebacks for a port
# that accepts TCP but never speaks SSH. The session raises a one-line
# DeviceError for the same failure, so those records are dropped here.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False
# A stalled SFTP transfer fails after this long without progress; a big model on a
# slow link may take longer in total, and that is fine.
SFTP_IDLE_TIMEOUT_S = 30.0
# sha256 of a few hundred MB on a Raspberry Pi's SD card takes seconds, not minutes.
HASH_TIMEOUT_S = 120.0
QUICK_TIMEOUT_S = 30.0
DEFAULT_CACHE_DIR = "~/.cache/edgeops"
# Labels a device may carry (devices.toml): the Python to run, the cores to pin
# measurements to (the inventory's `cpus`), and where pushed files go.
PYTHON_LABEL = "python"
CPUS_LABEL = PINNED_CPUS_LABEL
CACHE_DIR_LABEL = "cache_dir"
# Seconds for the TCP connect, the SSH banner and the login (CONNECT_TIMEOUT_S unless
# set): a board on a slow link may need more, a lab's own switch far less.
CONNECT_TIMEOUT_LABEL = "connect_timeout_s"

_CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_POLL_S = 0.2
_CHUNK_BYTES = 1 << 16
# Every command runs as `sh -c _WRAPPER TOKEN ARGV...`, a constant script, because:
# - closing an SSH channel does not stop a command that has no terminal, so the
#   wrapper reports the command's pid (tagged with the per-call TOKEN, so output
#   cannot forge it) and a timeout kills it by that pid;
# - `wait` turns a death by signal into exit code 128+N. OpenSSH reports such a death
#   as "exit-signal", which paramiko does not read, and 137 (SIGKILL) is how the
#   measurement parser recognises the OOM killer's work.
# - a watchdog reads the channel's stdin, which we never write to or close: it
#   ends only when sshd closes the session because this process died (even by
#   SIGKILL) or its connection dropped, and then kills the command, so a probe
#   never measures on after its run is gone while the lease is taken over. It is
#   itself killed once the command ends.
# The command gets no stdin (/dev/null); none needs one.
_WRAPPER = (
    'exec 3<&0; "$@" </dev/null & c=$!; printf "<%s:%s>" "$0" "$c" >&2; '
    '(read -r _ <&3; kill -9 "$c" 2>/dev/null) & w=$!; '
    'wait "$c"; s=$?; kill "$w" 2>/dev/null; exit "$s"'
)
_SHA256_SCRIPT = (
    "import hashlib, sys\n"
    "h = hashlib.sha256()\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for block in iter(lambda: f.read(1 << 20), b''):\n"
    "        h.update(block)\n"
    "print(h.hexdigest())\n"
)


def _labelled_timeout(device: Device) -> float:
    """The device's ``connect_timeout_s`` label, else CONNECT_TIMEOUT_S."""
    text = device.labels.get(CONNECT_TIMEOUT_LABEL)
    if text is None:
        return CONNECT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 600:  # NaN and inf fail too
        raise DeviceError(
            f"device {device.name!r}: {CONNECT_TIMEOUT_LABEL} = {text!r} is not a number "
            "of seconds from 0 to 600 (like 10); fix devices.toml"
        )
    return value


class SshSession:
    """A session to one ``transport = "ssh"`` device, connected on construction."""

    def __init__(self, device: Device, connect_timeout_s: float | None = None) -> None:
        self.device = device
        if connect_timeout_s is None:
            connect_timeout_s = _labelled_timeout(device)
        if not device.address:
            raise DeviceError(
                f'device {device.name!r} has no address; set address = "HOST[:PORT]" in devices.toml'
            )
        self.host, self.port = parse_address(device.address)
        self.user = device.user or getpass.getuser()
        self.cpus = device.labels.get(CPUS_LABEL)
        if self.cpus is not None and not _CPU_LIST.fullmatch(self.cpus):
            raise DeviceError(
                f'device {device.name!r}: cpus = {self.cpus!r} is not a CPU list like "0" or '
                '"0-1,3"; fix devices.toml'
            )
        self.python: tuple[str, ...] | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._cache_dir: str | None = None
        self._hash_with_python = False
        # Files pushed in this session, by (path, size, mtime): probing pushes the probe
        # and the model before every round, and re-hashing them each time costs seconds.
        self._pushed: dict[tuple[str, int, int], str] = {}
        self._facts: dict[str, Any] | None = None
        self._client = self._connect(connect_timeout_s)
        transport = self._client.get_transport()
        assert transport is not None  # connect() succeeded
        self._transport = transport
        try:
            self.python = self._find_python()
        except BaseException:
            self.close()
            raise

    @property
    def where(self) -> str:
        """How messages name the device: its name and how it is reached."""
        return f"device {self.device.name!r} ({self.user}@{self.host}:{self.port})"

    # ------------------------------------------------------------------ connecting

    def _connect(self, timeout_s: float) -> paramiko.SSHClient:
        key_path = self.device.key_path.expanduser() if self.device.key_path else None
        if key_path is not None and not key_path.is_file():
            raise DeviceError(
                f"{self.where}: SSH key {key_path} not found; fix `key` in devices.toml"
            )
        client = paramiko.SSHClient()
        try:
            load_known_hosts(client)
            client.connect(
                self.host,
                self.port,
                username=self.user,
                key_filename=str(key_path) if key_path else None,
                allow_agent=True,
                # Without a configured key, try ~/.ssh/id_* as ssh itself would.
                look_for_keys=key_path is None,
                timeout=timeout_s,
                banner_timeout=timeout_s,
                auth_timeout=timeout_s,
                channel_timeout=timeout_s,
            )
        except UnknownHostKey as exc:
            client.close()
            message = unknown_key_message(self.host, self.port, exc.key)
            raise DeviceError(f"{self.where}: {message}") from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            message = changed_key_message(self.host, self.port, exc.key, exc.expected_key)
            raise DeviceError(f"{self.where}: {message}") from None
        except paramiko.PasswordRequiredException as exc:
            client.close()
            raise DeviceError(
                f"{self.where}: SSH key {key_path} is encrypted; load it into ssh-agent "
                "(ssh-add) so edgeops can use it"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise DeviceError(
                f"{self.where}: SSH login refused ({exc}); put the public key of "
                f"{key_path or 'your ssh-agent'} in the board's ~/.ssh/authorized_keys"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            # The transport thread's own error says what happened ("Error reading SSH
            # protocol banner"); the one connect() raises after it ("No existing
            # session") does not.
            transport = client.get_transport()
            cause: BaseException | str = getattr(transport, "saved_exception", None) or exc
            fix = (
                "check that the board is on, its sshd runs, and the address's port is its SSH port"
            )
            if transport is not None and not getattr(transport, "remote_version", ""):
                cause = f"the port took the connection but sent no SSH banner in {timeout_s:g} s"
            elif transport is None and isinstance(exc, TimeoutError):
                # paramiko lets the socket's own timeout through ("timed out"): nothing
                # answered the TCP connect, so packets are dropped on the way, not refused.
                cause = f"no answer to the TCP connect in {timeout_s:g} s"
                fix = (
                    "check the address, that the board is on and on this network, and that "
                    f"no firewall drops port {self.port}"
                )
            client.close()
            raise DeviceError(
                f"{self.where}: cannot connect over SSH ({_one_line(cause)}); {fix}"
            ) from exc
        except BaseException:
            client.close()
            raise
        return client

    def _find_python(self) -> tuple[str, ...] | None:
        """The Python to run the probe with: the device's ``python`` label, else python3."""
        configured = self.device.labels.get(PYTHON_LABEL)
        # No -I (isolated mode, as the local session uses): on a board the runtime is
        # often installed with `pip install --user`, which -I would hide.
        candidate = (configured or "python3",)
        found = self._run_wrapped([*candidate, "-c", "import sys"], QUICK_TIMEOUT_S)
        if found.exit_code == 0:
            return candidate
        if configured:
            raise DeviceError(
                f"{self.where}: its python {configured!r} does not run there "
                f"({_tail(found.stderr) or f'exit code {found.exit_code}'}); fix `python` in devices.toml"
            )
        return None

    # ------------------------------------------------------------------ running

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        """Run ``argv`` on the board; raise TimeoutError (after killing it) past ``timeout_s``.

        A measurement (argv starting with the session's python) is pinned with
        ``taskset`` to the device's ``cpus`` label: two boards simulated on one
        host, or two devices that share one host's CPU, must not compete for
        the same cores, or each distorts the other's latency.
        """
        if self.cpus is not None and self.python and tuple(argv[: len(self.python)]) == self.python:
            argv = ["taskset", "-c", self.cpus, *argv]
        return self._run_wrapped(argv, timeout_s)

    def _run_wrapped(self, argv: list[str], timeout_s: float) -> CommandResult:
        token = f"edgeops-{secrets.token_hex(8)}"
        command = shlex.join(["sh", "-c", _WRAPPER, token, *argv])
        marker = re.compile(rb"<" + token.encode() + rb":(\d+)>")
        return self._execute(command, timeout_s, argv[0], marker)

    def _execute(
        self, command: str, timeout_s: float, label: str, marker: re.Pattern[bytes] | None
    ) -> CommandResult:
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        stdout, stderr = bytearray(), bytearray()
        pid: int | None = None
        try:
            channel = self._transport.open_session(timeout=min(timeout_s, CONNECT_TIMEOUT_S))
            channel.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(exc) from exc
        try:
            while True:
                # The server closes the channel after the last output and the exit status.
                closed = channel.closed
                while channel.recv_ready():
                    stdout += channel.recv(_CHUNK_BYTES)
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(_CHUNK_BYTES)
                if pid is None and marker is not None and (found := marker.search(stderr)):
                    pid = int(found.group(1))
                if closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{label} ran over {timeout_s:g} s on {self.where}")
                if channel.eof_received:
                    time.sleep(0.002)  # output is done; the close follows at once
                else:
                    select.select([channel], [], [], min(remaining, _POLL_S))
        except BaseException:
            # The deadline passed, or Ctrl-C: do not leave the command running there.
            if pid is not None and self._transport.is_active():
                self._kill(pid)
            raise
        finally:
            # A connection that went down mid-command cannot send the close; the
            # error that matters is the one above (a timeout, Ctrl-C) or the lost
            # connection reported below, not paramiko's EOFError from here.
            with contextlib.suppress(paramiko.SSHException, EOFError, OSError):
                channel.close()
        if channel.exit_status == -1 and not self._transport.is_active():
            raise self._lost(EOFError("connection closed"))
        if marker is not None:
            stderr = bytearray(marker.sub(b"", stderr, count=1))
        return CommandResult(
            exit_code=channel.exit_status,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            duration_s=time.perf_counter() - started,
        )

    def _kill(self, pid: int) -> None:
        # Best effort: the connection may be going down with the command.
        with contextlib.suppress(TimeoutError, DeviceError):
            self._execute(shlex.join(["kill", "-KILL", str(pid)]), QUICK_TIMEOUT_S, "kill", None)

    def _lost(self, exc: BaseException) -> DeviceError:
        return DeviceError(f"{self.where}: lost the SSH connection ({_one_line(exc)})")

    # ------------------------------------------------------------------ pushing

    def push(self, local_path: Path) -> str:
        """Copy a file into the device's cache (``<sha256>-<name>``); return its path there.

        A folder (an .mlpackage for a Mac host) goes as a zip and is unpacked there into
        a folder named by its content hash, so a second push of it is a lookup.
        """
        local = Path(local_path)
        if local.is_dir():
            return self._push_folder(local)
        if not local.is_file():
            raise DeviceError(f"cannot push {local} to {self.where}: not a file")
        stat = local.stat()
        pushed_key = (str(local.resolve()), stat.st_size, stat.st_mtime_ns)
        if pushed_key in self._pushed:
            return self._pushed[pushed_key]
        digest = sha256_file(local)
        cache_dir = self._remote_cache_dir()
        remote = f"{cache_dir}/{digest}-{local.name}"
        if not (self._remote_exists(remote) and self.remote_sha256(remote) == digest):
            self._upload_verified(local, remote, digest, cache_dir)
        self._pushed[pushed_key] = remote
        return remote

    def _push_folder(self, local: Path) -> str:
        digest = sha256_tree(local)
        with tempfile.TemporaryDirectory(prefix="edgeops-push-") as tmp:
            archive = Path(tmp) / f"{digest[:16]}-{local.name}.zip"
            zip_folder(local, archive)
            remote_zip = self.push(archive)
        target = f"{remote_zip.rsplit('/', 1)[0]}/{digest}-{local.name}"
        if self.python is None:
            raise DeviceError(f"{self.where}: no python3 there to unpack {local.name}")
        result = self.run([*self.python, "-c", UNPACK_SCRIPT, remote_zip, target], UNPACK_TIMEOUT_S)
        if result.exit_code != 0:
            raise DeviceError(
                f"{self.where}: unpacking {local.name} failed ({_tail(result.stderr)})"
            )
        return target

    def _upload_verified(self, local: Path, remote: str, digest: str, cache_dir: str) -> None:
        # A unique temporary name: a half-written file is never taken for the artifact,
        # and two devices on one host can push the same file into one cache at once.
        partial = f"{cache_dir}/.{digest[:16]}-{secrets.token_hex(4)}.part"
        sftp = self._sftp_client()
        try:
            try:
                self._upload(local, partial)
                arrived = self.remote_sha256(partial)
                if arrived != digest:
                    raise DeviceError(
                        f"{self.where}: {local.name} arrived corrupt (sha256 {arrived[:16]}..., "
                        f"expected {digest[:16]}...) and was discarded; check the board's storage"
                    )
                sftp.posix_rename(partial, remote)
            except OSError as exc:
                raise DeviceError(
                    f"{self.where}: copying {local.name} to {partial} failed ({_one_line(exc)}); "
                    f"check free space there, or set the device's {CACHE_DIR_LABEL}"
                ) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                sftp.remove(partial)
            raise

    def _upload(self, local: Path, remote: str) -> None:
        """Copy the bytes; a method of its own so a test can damage what arrives."""
        self._sftp_client().put(str(local), remote)

    def remote_sha256(self, remote: str) -> str:
        """sha256 of a file on the board, computed there (sha256sum, else its Python)."""
        if not self._hash_with_python:
            result = self._run_wrapped(["sha256sum", "--", remote], HASH_TIMEOUT_S)
            # 127: no sha256sum there (macOS before 14, some minimal images).
            self._hash_with_python = result.exit_code == 127 and self.python is not None
        if self._hash_with_python:
            assert self.python is not None
            result = self._run_wrapped([*self.python, "-c", _SHA256_SCRIPT, remote], HASH_TIMEOUT_S)
        # sha256sum escapes odd file names by starting the line with a backslash.
        digest = result.stdout.split()[0].lstrip("\\") if result.stdout.split() else ""
        if result.exit_code != 0 or not _SHA256.fullmatch(digest):
            raise DeviceError(
                f"{self.where}: cannot compute the sha256 of {remote} there "
                f"({_tail(result.stderr) or f'exit code {result.exit_code}'})"
            )
        return digest

    def _remote_exists(self, remote: str) -> bool:
        try:
            self._sftp_client().stat(remote)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._lost(exc) from exc
        return True

    def _remote_cache_dir(self) -> str:
        if self._cache_dir is not None:
            return self._cache_dir
        sftp = self._sftp_client()
        configured = self.device.labels.get(CACHE_DIR_LABEL, DEFAULT_CACHE_DIR)
        try:
            # SFTP starts in the login's home directory; "~" is a shell's, not SFTP's.
            home = sftp.normalize(".")
            path = configured
            if path == "~" or path.startswith("~/"):
                path = home + path[1:]
            elif not path.startswith("/"):
                path = f"{home}/{path}"
            self._make_dirs(sftp, path.rstrip("/") or "/")
        except OSError as exc:
            raise DeviceError(
                f"{self.where}: cannot create the cache folder {configured} there "
                f"({_one_line(exc)}); set the device's {CACHE_DIR_LABEL} to a writable folder"
            ) from exc
        self._cache_dir = path.rstrip("/")
        return self._cache_dir

    @staticmethod
    def _make_dirs(sftp: paramiko.SFTPClient, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            folder = "/" * path.startswith("/") + "/".join(parts[:depth])
            try:
                sftp.stat(folder)
            except FileNotFoundError:
                try:
                    sftp.mkdir(folder)
                except OSError:
                    sftp.stat(folder)  # made by another session meanwhile, or a real error

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise self._lost(exc) from exc
            channel = self._sftp.get_channel()
            if channel is not None:
                channel.settimeout(SFTP_IDLE_TIMEOUT_S)
        return self._sftp

    # ------------------------------------------------------------------ facts and closing

    def describe(self) -> dict[str, Any]:
        """What `edgeops devices` shows and the measure hook checks: OS, CPU, RAM, runtimes."""
        if self._facts is None:
            from .detect import detect

            self._facts = detect(self)
        return self._facts

    def close(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        self._client.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _tail(text: str) -> str:
    return " ".join(text.split())[-300:]


# Runs on the device: unpack a pushed zip of a folder next to it, atomically (a
# half-unpacked folder is never taken for the model), unless an earlier push did.
UNPACK_SCRIPT = """\
import os, shutil, sys, zipfile
archive, target = sys.argv[1], sys.argv[2]
if not os.path.isdir(target):
    partial = target + ".part-" + str(os.getpid())
    with zipfile.ZipFile(archive) as z:
        z.extractall(partial)
    try:
        os.rename(partial, target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not os.path.isdir(target):
            raise
print(target)
"""
UNPACK_TIMEOUT_S = 300.0


def zip_folder(folder: Path, archive: Path) -> None:
    """A zip of ``folder``'s content, entries in sorted order with fixed times.

    Fixed order and times make the same folder give the same zip bytes, so the
    sha256-named cache recognises a folder it already holds. Links are refused: a
    link out of the folder would push files the user never named.
    """
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise DeviceError(
                    f"{path} is a symbolic link; copy what it points to into the folder"
                )
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            if path.is_dir():
                info.filename += "/"
                z.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())
