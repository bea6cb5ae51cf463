"""An open adb connection to one device, as an edgeops Session (push, run, close).

adb-shell speaks the ADB protocol itself, over TCP or USB; no ``adb`` binary
or server is needed. Every call has a timeout, every command is one
``shlex.join``, and since the legacy shell returns no exit code, each command
carries a sentinel that prints it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from edgeops.plugin import CommandResult, Device, DeviceError

from . import keys

SENTINEL = "__EDGEOPS_EXIT__"
# A phone shows the "Allow USB debugging?" dialog for an unknown key; waiting longer
# than this means nobody is there to tap it.
AUTH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
CHECKSUM_TIMEOUT_S = 60.0
PUSH_READ_TIMEOUT_S = 30.0
DEFAULT_REMOTE_DIR = "/data/local/tmp/edgeops"
ADB_SERVER_PREFIX = "adb-server:"
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SENTINEL_LINE = re.compile(rf"\n?{SENTINEL}(\d+)\n?$")
# Every command runs as `sh -c _WATCHDOG timeout -s KILL N ARGV...`, because the
# device kept running a command whose adb stream had closed. Seen with Debian's
# AOSP adbd 34 (test_adb_watchdog.py, test_what_adbd_does_when_a_shell_stream_closes):
# the legacy `shell:` service gives the command a pty and a session of its own;
# when the host's end closes (client SIGKILLed, connection lost) the pty hangs up,
# so the shell adbd started gets SIGHUP and reads of the pty end at EOF. But
# `timeout` puts itself and the command in a process group of their own (coreutils,
# and toybox's since it has --foreground), which the hangup never reaches: the
# probe measured on beside the next run. So a watchdog reads the pty, which the
# host never writes to, ignoring the SIGHUP that ends the rest of the session; at
# EOF it kills the group `timeout` leads, or, where `timeout` made none (older
# toybox), `timeout`'s children and `timeout`. It is killed once the command ends,
# so nothing holds the pty open and the stream closes at once. `wait` gives the
# exit code (128+N for a signal), as before; the command gets /dev/null as stdin.
_WATCHDOG = (
    'exec 3<&0; "$@" </dev/null 3<&- & c=$!; '
    '(trap "" HUP; while read -r _ <&3; do :; done; '
    'kill -s KILL -- "-$c" || { pkill -KILL -P "$c"; kill -s KILL "$c"; }) '
    "</dev/null >/dev/null 2>&1 & w=$!; "
    'wait "$c"; s=$?; kill "$w" 2>/dev/null; exit "$s"'
)


def open_adb(device: Device, auth_timeout_s: float = AUTH_TIMEOUT_S) -> Any:
    """Connect to ``device.address``: ``host:port`` over TCP, ``usb:SERIAL`` (``usb:`` for any),
    or ``adb-server:PORT:SERIAL`` through a running adb server (see adb_server)."""
    from adb_shell.adb_device import AdbDevice, AdbDeviceUsb
    from adb_shell.exceptions import DeviceAuthError

    address = device.address or ""
    if address.startswith(ADB_SERVER_PREFIX):
        from .adb_server import AdbServerTransport

        return AdbServerTransport(device)
    if address.startswith("usb:"):
        adb: Any = AdbDeviceUsb(
            serial=address[4:] or None, default_transport_timeout_s=CONNECT_TIMEOUT_S
        )
    else:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise DeviceError(
                f"{device.name}: adb address {address!r} is not host:port or usb:SERIAL; fix devices.toml"
            )
        adb = AdbDevice(
            closed_aware_tcp_transport(host, int(port)),
            default_transport_timeout_s=CONNECT_TIMEOUT_S,
        )
    path = keys.key_path(device.key_path)
    try:
        adb.connect(
            rsa_keys=[keys.signer(path)],
            auth_timeout_s=auth_timeout_s,
            transport_timeout_s=CONNECT_TIMEOUT_S,
        )
    except DeviceAuthError as exc:
        raise DeviceError(
            f"{device.name} did not accept edgeops' adb key within {auth_timeout_s:g} s: "
            f"accept the debugging key on the device (key {path}.pub), then run again"
        ) from exc
    except Exception as exc:  # adb-shell and the OS raise many types; all mean "not reached"
        raise DeviceError(
            f"cannot reach adb device {device.name} at {address} ({type(exc).__name__}: {exc}); "
            "check that adbd listens there (`adb tcpip 5555` on a phone) and the cable or network"
        ) from exc
    return adb


def closed_aware_tcp_transport(host: str, port: int) -> Any:
    """adb-shell's TCP transport, except that a closed socket is an error.

    adb-shell returns the empty bytes ``recv`` gives on a closed socket and reads
    again, so adbd killed mid-command spun a core until the command's own timeout
    (about 305 s for a probe) and was then reported as the model's timeout. Raising
    here makes a dead transport a DeviceError within one read: the run reconnects,
    retries once, then quarantines the device.
    """
    from adb_shell.transport.tcp_transport import TcpTransport

    class ClosedAwareTcpTransport(TcpTransport):  # type: ignore[misc]
        def bulk_read(self, numbytes: int, transport_timeout_s: float | None) -> bytes:
            data: bytes = super().bulk_read(numbytes, transport_timeout_s)
            if not data and numbytes > 0:
                raise ConnectionResetError(f"adbd at {host}:{port} closed the connection")
            return data

    return ClosedAwareTcpTransport(host, port)


class AdbTransport(Protocol):
    """What AdbSession asks of a connection: adb-shell's AdbDevice (TCP, USB), or
    adb_server.AdbServerTransport (a phone the adb server holds)."""

    def shell(
        self, command: str, timeout_s: float, read_timeout_s: float, transport_timeout_s: float
    ) -> str: ...

    def push(
        self,
        local_path: str,
        device_path: str,
        st_mode: int,
        read_timeout_s: float,
        transport_timeout_s: float,
    ) -> None: ...

    def pull(
        self,
        device_path: str,
        local_path: str,
        progress_callback: Any,
        read_timeout_s: float,
        transport_timeout_s: float,
    ) -> None: ...

    def close(self) -> None: ...


class AdbSession:
    def __init__(
        self, device: Device, adb: AdbTransport, remote_dir: str = DEFAULT_REMOTE_DIR
    ) -> None:
        self.device = device
        self.adb = adb
        self.remote_dir = device.labels.get("remote_dir", remote_dir)
        self._pushed: dict[tuple[str, str], str] = {}
        self._facts: dict[str, Any] | None = None
        self.run(["mkdir", "-p", self.remote_dir], timeout_s=CHECKSUM_TIMEOUT_S)
        self.python: tuple[str, ...] | None = self._find_python()

    def _find_python(self) -> tuple[str, ...] | None:
        """A board with Python gets the stdlib probe; a phone (no Python) gets benchmark_model."""
        if "python" in self.device.labels:
            return tuple(shlex.split(self.device.labels["python"])) or None
        found = self.run(["sh", "-c", "command -v python3"], timeout_s=CHECKSUM_TIMEOUT_S)
        path = found.stdout.strip()
        return (path,) if found.exit_code == 0 and path else None

    # ----------------------------------------------------------------------- run

    def run(self, argv: list[str], timeout_s: float) -> CommandResult:
        """Run ``argv`` on the device; stdout and stderr arrive merged (the legacy shell has one stream).

        The device's own ``timeout`` kills the command there, so a timed-out probe
        does not keep running on the phone; the host waits a little longer than that.
        """
        limit_s = max(1, int(timeout_s + 0.999))
        command = (
            shlex.join(
                ["sh", "-c", _WATCHDOG, "edgeops", "timeout", "-s", "KILL", str(limit_s), *argv]
            )
            + f"; printf '\\n{SENTINEL}%d\\n' \"$?\""
        )
        started = time.perf_counter()
        output = self._shell(command, timeout_s + 5.0)
        duration_s = time.perf_counter() - started
        match = _SENTINEL_LINE.search(output)
        if match is None:
            raise DeviceError(
                f"{self.device.name}: the command ended without its exit code; the connection dropped"
            )
        exit_code = int(match.group(1))
        if exit_code == 137 and duration_s >= limit_s:
            raise TimeoutError(f"{argv[0]} ran over {timeout_s:g} s on {self.device.name}")
        return CommandResult(exit_code, output[: match.start()], "", duration_s)

    def _shell(self, command: str, timeout_s: float) -> str:
        from adb_shell.exceptions import AdbTimeoutError, TcpTimeoutException

        try:
            output = self.adb.shell(
                command,
                timeout_s=timeout_s,
                read_timeout_s=timeout_s,
                transport_timeout_s=timeout_s,
            )
        except (AdbTimeoutError, TcpTimeoutException, TimeoutError) as exc:
            raise TimeoutError(f"no answer from {self.device.name} within {timeout_s:g} s") from exc
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(
                f"{self.device.name}: adb shell failed ({type(exc).__name__}: {exc})"
            ) from exc
        return str(output)

    # ----------------------------------------------------------------------- push

    def push(self, local_path: Path) -> str:
        """Copy a file to the device once per content, checked by sha256 (md5 where the device lacks it)."""
        local_path = Path(local_path)
        data = local_path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        remote = f"{self.remote_dir}/{remote_name(local_path.name, sha256)}"
        if self._pushed.get((sha256, remote)):
            return remote
        if not self._matches(remote, data):
            try:
                self.adb.push(
                    str(local_path),
                    remote,
                    st_mode=push_mode(local_path),
                    read_timeout_s=PUSH_READ_TIMEOUT_S,
                    transport_timeout_s=PUSH_READ_TIMEOUT_S,
                )
            except Exception as exc:
                raise DeviceError(
                    f"pushing {local_path.name} to {self.device.name} failed ({type(exc).__name__}: {exc})"
                ) from exc
            # adbd makes a pushed file 0666 (0777 with any execute bit) whatever mode the
            # push asks for (seen with Debian's AOSP adbd), so the mode is set after.
            mode = push_mode(local_path) & 0o777
            self.run(["chmod", f"{mode:o}", remote], timeout_s=CHECKSUM_TIMEOUT_S)
            if not self._matches(remote, data):
                raise DeviceError(
                    f"{local_path.name} arrived corrupted on {self.device.name} (checksum differs); "
                    "check the cable or the device's free space, then run again"
                )
        self._pushed[(sha256, remote)] = remote
        return remote

    def _matches(self, remote: str, data: bytes) -> bool:
        for tool, digest in (("sha256sum", hashlib.sha256), ("md5sum", hashlib.md5)):
            result = self.run([tool, remote], timeout_s=CHECKSUM_TIMEOUT_S)
            if result.exit_code == 127 or "not found" in result.stdout.split(remote)[0]:
                continue  # this device has no such tool: try the next
            first = result.stdout.split()
            return result.exit_code == 0 and bool(first) and first[0] == digest(data).hexdigest()
        raise DeviceError(
            f"{self.device.name} has neither sha256sum nor md5sum; pushes cannot be verified"
        )

    def pull(self, remote: str, local_path: Path, max_bytes: int, missing: str = "") -> None:
        """Copy ``remote`` to ``local_path``, refusing a file over ``max_bytes``: its size is
        read on the device first and counted again as it arrives. DeviceError names what
        went wrong; ``missing`` is what to say when there is no such file."""
        size = self.run(["stat", "-c", "%s", remote], timeout_s=CHECKSUM_TIMEOUT_S)
        if size.exit_code != 0:
            raise DeviceError(missing or f"{remote} is not on {self.device.name}")
        text = size.stdout.strip()
        if not text.isdigit():
            raise DeviceError(f"{self.device.name} gave no size for {remote}: {text[-200:]!r}")
        if int(text) > max_bytes:
            raise DeviceError(
                f"{remote} on {self.device.name} is {int(text)} bytes, over the {max_bytes} "
                "expected: not pulled"
            )

        def bounded(_path: str, written: int, _total: int) -> None:
            if written > max_bytes:  # the file grew after its size was read
                raise DeviceError(f"{remote} grew past {max_bytes} bytes while it was pulled")

        try:
            self.adb.pull(
                remote,
                str(local_path),
                progress_callback=bounded,
                read_timeout_s=PUSH_READ_TIMEOUT_S,
                transport_timeout_s=PUSH_READ_TIMEOUT_S,
            )
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(
                f"pulling {remote} from {self.device.name} failed ({type(exc).__name__}: {exc})"
            ) from exc
        if local_path.stat().st_size > max_bytes:
            raise DeviceError(f"{remote} arrived over {max_bytes} bytes")

    def tensor_outputs(
        self,
        remote_model: str,
        compute_unit: str,
        inputs: Sequence[tuple[tuple[int, ...], bytes]],
        output_bytes: int,
        timeout_s: float,
    ) -> bytes:
        """A phone's runner of device outputs (edgeops.devices.sessions.TensorOutputs):
        one inference of a TFLite model by benchmark_model (see phone_outputs)."""
        from .phone_outputs import tensor_outputs

        return tensor_outputs(self, remote_model, compute_unit, inputs, output_bytes, timeout_s)

    def describe(self) -> dict[str, Any]:
        """What `edgeops devices` shows: os, cpu, cores, ram_mb, runtimes, model, soc, sdk,
        matched_profile (device_facts.describe_device); read once per session."""
        if self._facts is None:
            from .device_facts import describe_device

            self._facts = describe_device(self, self.device.labels.get("benchmark_model"))
        return self._facts

    def remove(self, remote: str) -> None:
        self.run(["rm", "-f", remote], timeout_s=CHECKSUM_TIMEOUT_S)

    def close(self) -> None:
        # Closing a connection that already dropped is not an error.
        with contextlib.suppress(Exception):
            self.adb.close()


def remote_name(name: str, sha256: str) -> str:
    """A file name safe on any device shell: the content hash keeps it unique."""
    path = Path(name)
    stem = SAFE_NAME.sub("_", path.stem).strip("._")[:40] or "file"
    suffix = SAFE_NAME.sub("", path.suffix)[:16]
    return f"{stem}-{sha256[:12]}{suffix}"


def push_mode(local_path: Path) -> int:
    """0644, or 0755 for a program: a model need not be writable or executable by others."""
    import stat

    executable = os.access(local_path, os.X_OK)
    return stat.S_IFREG | (0o755 if executable else 0o644)
