"""A client of the adb server's smart-socket protocol: the phones `adb` already holds.

A phone on USB belongs to the ``adb`` server the developer runs (port 5037, or
``ANDROID_ADB_SERVER_PORT``); adb-shell cannot open a USB device that server
holds. So edgeops asks the server instead, as ``adb`` itself does (AOSP
``adb/OVERVIEW.TXT``, ``SERVICES.TXT``, ``SYNC.TXT``):

- a request is its length as 4 hex digits, then the text (``host:devices-l``);
  the server answers ``OKAY``, or ``FAIL`` with a hex4-length message;
- ``host:transport:SERIAL`` turns the connection into one to that device, after
  which ``shell:COMMAND`` streams the command's output until it ends and
  ``sync:`` speaks the binary file protocol (8-byte requests: an id and a
  little-endian length).

``AdbServerTransport`` has adb-shell's ``shell``/``push``/``close``, so the one
``AdbSession`` (sentinel exit codes, watchdog, checksums, modes) runs over
either. A device is addressed ``adb-server:PORT:SERIAL``.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeops.plugin import Device, DeviceError, check_name

from .profile_match import match_profile
from .session import ADB_SERVER_PREFIX as ADDRESS_PREFIX
from .session import SAFE_NAME

DEFAULT_PORT = 5037
PORT_ENV = "ANDROID_ADB_SERVER_PORT"
STATE_LABEL = "adb_state"
# The server runs on this machine: it accepts at once or is not there, so a short
# wait keeps discovery (run by every `ship` and `edgeops devices`) quick without one.
DISCOVER_TIMEOUT_S = 0.5
REQUEST_TIMEOUT_S = 10.0
# The server answers host:devices-l from memory; a port that takes longer is not
# an adb server worth waiting for on every run.
LIST_TIMEOUT_S = 2.0
# SYNC.TXT: "Each chunk must not be larger than 64k."
SYNC_CHUNK_BYTES = 64 * 1024
# A request's length is 4 hex digits.
MAX_REQUEST_BYTES = 0xFFFF
# The keys `host:devices-l` prints after the state (adb's transport.cpp); a state
# may itself hold spaces ("no permissions (missing udev rules? ...)").
_DETAIL_KEYS = ("usb", "product", "model", "device", "transport_id")
AUTHORIZE_FIX = "accept the debugging prompt on the phone (Allow USB debugging?), then run again"
_STATE_FIXES = {
    "unauthorized": AUTHORIZE_FIX,
    "authorizing": AUTHORIZE_FIX,
    "offline": "reconnect the cable or run `adb reconnect`, then run again",
    "no permissions": "install udev rules for the phone (Debian: android-udev-rules), join the "
    "plugdev group and replug it",
}


def state_fix(text: str) -> tuple[str, str] | None:
    """The not-ready state ``text`` (a devices-l state, or a FAIL message) names, and its fix."""
    return next(((s, fix) for s, fix in _STATE_FIXES.items() if s in text), None)


class ServerFailure(DeviceError):
    """The server answered FAIL; the message is the server's own."""


@dataclass(frozen=True)
class ServerDevice:
    """One line of ``host:devices-l``."""

    serial: str
    state: str  # device, unauthorized, offline, recovery, no permissions (...)
    details: dict[str, str]  # model, device (codename), product, usb, transport_id

    @property
    def model(self) -> str:
        # devices-l writes spaces in the model as underscores (Pixel_6).
        return self.details.get("model", "").replace("_", " ")

    def fix(self) -> str:
        known = state_fix(self.state)
        if known is not None:
            return known[1]
        return f"wait until `adb devices` shows it as device (it is {self.state!r})"


def server_port() -> int:
    configured = os.environ.get(PORT_ENV, "").strip()
    if not configured:
        return DEFAULT_PORT
    if not configured.isdigit() or not 0 < int(configured) < 65536:
        raise DeviceError(
            f"{PORT_ENV}={configured!r} is not a port number; set it to the adb server's port or unset it"
        )
    return int(configured)


def parse_devices(text: str) -> list[ServerDevice]:
    """``host:devices-l``'s lines: ``SERIAL  STATE key:value...``."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        serial, rest = words[0], words[1:]
        first_detail = next(
            (i for i, w in enumerate(rest) if w.split(":", 1)[0] in _DETAIL_KEYS and ":" in w),
            len(rest),
        )
        details = dict(w.split(":", 1) for w in rest[first_detail:] if ":" in w)
        found.append(ServerDevice(serial, " ".join(rest[:first_detail]), details))
    return found


def list_devices(port: int, timeout_s: float = DISCOVER_TIMEOUT_S) -> list[ServerDevice] | None:
    """The server's devices; None when no adb server answers on ``port``.

    Quietly: discovery runs on every `ship`, and most machines run no adb server
    (or run something else on its port).
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(LIST_TIMEOUT_S)
            _request(sock, "host:devices-l")
            return parse_devices(_read_counted(sock).decode(errors="replace"))
    except (OSError, DeviceError):
        return None


def discovered_device(found: ServerDevice, port: int) -> Device:
    """A Device for one of the server's phones; its id is a safe file name, its profile matched.

    A phone no profile describes gets profile "unknown:<model>", as the Mac host's
    iPhones do: `edgeops devices` lists it and no plan is made from it.
    """
    props = {
        "ro.product.device": found.details.get("device", ""),
        "ro.build.product": found.details.get("product", ""),
        "ro.product.model": found.model,
    }
    match = match_profile(props) if found.state == "device" else None
    safe_serial = SAFE_NAME.sub("_", found.serial).strip("._-")[:60] or "phone"
    name = f"{found.model} {found.serial}" if found.model else found.serial
    return Device(
        id=check_name(f"adb-{safe_serial}", "adb device id"),
        name=name,
        transport="adb",
        profile_id=match.profile_id if match else f"unknown:{found.model or found.state}",
        address=f"{ADDRESS_PREFIX}{port}:{found.serial}",
        labels={STATE_LABEL: found.state},
    )


def not_ready_status(device: Device) -> dict[str, object]:
    """What `edgeops devices` shows for a phone the server lists but cannot use yet."""
    state = device.labels.get(STATE_LABEL, "")
    found = ServerDevice(serial=parse_address(device)[1], state=state, details={})
    return {
        "reachable": False,
        "error": f"{device.name} is {state} at the adb server: {found.fix()}",
    }


def discover(inventory: Sequence[Device] = ()) -> list[Device]:
    """The server's phones, except those the inventory already reaches.

    The inventory's entry wins (its labels, its profile): a phone listed there by
    its server address, or by the same host:port the server is connected to, is
    one phone, and two ids for it would let two measurements share it.
    """
    port = server_port()
    listed = {d.address for d in inventory if d.transport == "adb"}
    return [
        discovered_device(d, port)
        for d in list_devices(port) or []
        if not {f"{ADDRESS_PREFIX}{port}:{d.serial}", d.serial} & listed
    ]


def parse_address(device: Device) -> tuple[int, str]:
    """``adb-server:PORT:SERIAL`` as (port, serial)."""
    rest = (device.address or "")[len(ADDRESS_PREFIX) :]
    port, _, serial = rest.partition(":")
    if not port.isdigit() or not serial:
        raise DeviceError(
            f"{device.name}: adb address {device.address!r} is not adb-server:PORT:SERIAL; "
            "fix devices.toml (`edgeops devices` lists the server's phones with their addresses)"
        )
    return int(port), serial


class AdbServerTransport:
    """adb-shell's ``shell``/``push``/``pull``/``close`` for one device, through the adb server."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.port, self.serial = parse_address(device)
        with self._device_socket(REQUEST_TIMEOUT_S):
            pass  # reachable, authorized and online, or a DeviceError naming the fix

    @contextmanager
    def _device_socket(self, timeout_s: float) -> Iterator[socket.socket]:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)
        except OSError as exc:
            raise DeviceError(
                f"no adb server answers on port {self.port} for {self.device.name} ({exc}); "
                "start it with `adb start-server` and check that `adb devices` lists the phone"
            ) from exc
        with sock:
            try:
                _request(sock, f"host:transport:{self.serial}")
            except ServerFailure as exc:
                raise DeviceError(self._failure(str(exc))) from exc
            yield sock

    def _failure(self, message: str) -> str:
        known = state_fix(message)
        if known is not None:
            return f"{self.device.name} is {known[0]} at the adb server: {known[1]}"
        return f"the adb server cannot reach {self.device.name}: {' '.join(message.split())}"

    def shell(
        self, command: str, timeout_s: float, read_timeout_s: float, transport_timeout_s: float
    ) -> str:
        """The command's merged output, once it ends; TimeoutError past ``timeout_s``.

        Closing the socket at the deadline closes the device's stream, which is what
        makes the device-side watchdog (see session._WATCHDOG) kill the command.
        """
        data = command.encode()
        if len(data) > MAX_REQUEST_BYTES - len("shell:"):
            raise DeviceError(f"{self.device.name}: the command is {len(data)} bytes, too long")
        deadline = time.monotonic() + timeout_s
        output = bytearray()
        with self._device_socket(min(timeout_s, REQUEST_TIMEOUT_S)) as sock:
            _request(sock, "shell:" + command)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no end of output within {timeout_s:g} s")
                sock.settimeout(remaining)
                chunk = sock.recv(SYNC_CHUNK_BYTES)
                if not chunk:
                    return output.decode(errors="replace")
                output += chunk

    def push(
        self,
        local_path: str,
        device_path: str,
        st_mode: int,
        read_timeout_s: float,
        transport_timeout_s: float,
    ) -> None:
        """SYNC.TXT's SEND: ``path,mode``, DATA chunks of at most 64 KiB, DONE with the mtime."""
        with self._device_socket(transport_timeout_s) as sock:
            sock.settimeout(read_timeout_s)
            _request(sock, "sync:")
            target = f"{device_path},{st_mode}".encode()
            sock.sendall(b"SEND" + struct.pack("<I", len(target)) + target)
            with Path(local_path).open("rb") as f:
                for chunk in iter(lambda: f.read(SYNC_CHUNK_BYTES), b""):
                    sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
            mtime_s = int(Path(local_path).stat().st_mtime)
            sock.sendall(b"DONE" + struct.pack("<I", mtime_s))
            reply, length = struct.unpack("<4sI", _read_exactly(sock, 8))
            if reply == b"FAIL":
                message = _read_exactly(sock, length).decode(errors="replace")
                raise DeviceError(f"the device refused {device_path}: {message}")
            if reply != b"OKAY":
                raise DeviceError(f"the adb server answered {reply!r} to a push")
            sock.sendall(b"QUIT" + struct.pack("<I", 0))

    def pull(
        self,
        device_path: str,
        local_path: str,
        progress_callback: Any,
        read_timeout_s: float,
        transport_timeout_s: float,
    ) -> None:
        """SYNC.TXT's RECV: DATA chunks until DONE, or FAIL with the device's reason;
        ``progress_callback(path, written, 0)`` after each chunk (it may raise to stop)."""
        written = 0
        with self._device_socket(transport_timeout_s) as sock, Path(local_path).open("wb") as f:
            sock.settimeout(read_timeout_s)
            _request(sock, "sync:")
            source = device_path.encode()
            sock.sendall(b"RECV" + struct.pack("<I", len(source)) + source)
            while True:
                kind, length = struct.unpack("<4sI", _read_exactly(sock, 8))
                if kind == b"DONE":
                    break
                if kind == b"FAIL":
                    message = _read_exactly(sock, length).decode(errors="replace")
                    raise DeviceError(f"the device refused to send {device_path}: {message}")
                if kind != b"DATA" or length > SYNC_CHUNK_BYTES:
                    raise DeviceError(f"the adb server answered {kind!r} to a pull")
                f.write(_read_exactly(sock, length))
                written += length
                progress_callback(device_path, written, 0)
            sock.sendall(b"QUIT" + struct.pack("<I", 0))

    def close(self) -> None:
        """Nothing stays open between calls: each opens its own connection to the server."""


def _request(sock: socket.socket, text: str) -> None:
    data = text.encode()
    sock.sendall(b"%04x" % len(data) + data)
    status = _read_exactly(sock, 4)
    if status == b"FAIL":
        raise ServerFailure(_read_counted(sock).decode(errors="replace"))
    if status != b"OKAY":
        raise DeviceError(f"port {sock.getpeername()[1]} answered {status!r}: not an adb server")


def _read_counted(sock: socket.socket) -> bytes:
    length = _read_exactly(sock, 4)
    try:
        return _read_exactly(sock, int(length, 16))
    except ValueError:
        raise DeviceError(f"the adb server sent {length!r} for a length") from None


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("the adb server closed the connection")
        data += chunk
    return bytes(data)
