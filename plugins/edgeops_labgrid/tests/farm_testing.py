"""A real labgrid farm on 127.0.0.1 for the tests and benchmarks/farm_parallel.py: one
coordinator, two exporters, loopback boards and adbd.

- exporter ``host-a`` publishes board ``board-a`` (an sshd) as a NetworkService;
- exporter ``host-b`` publishes board ``board-b`` (another sshd) and, where Debian's
  adbd is installed and this runs as root, the local adbd as a NetworkADBDevice.

Places ``board-a`` and ``board-b`` are tagged ``profile=rpi5 bus=ssh`` and pinned to
cores 0 and 1 (a ``cpus`` tag); ``phone-b`` is tagged ``bus=adb``. They are made
with the real ``labgrid-client``, as a lab admin makes them.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgeops_labgrid.testing_farm import Coordinator, Exporter, free_port
from edgeops_ssh.testing_sshd import SSHD, Sshd

# Debian's adbd (bookworm-backports), installed by ./install.sh; it must run as root.
ADBD = Path("/usr/lib/android-sdk/platform-tools/adbd")


@dataclass
class Farm:
    root: Path
    coordinator: Coordinator
    exporters: dict[str, Exporter]
    boards: dict[str, Sshd]
    adbd: subprocess.Popen[bytes] | None = None
    adbd_port: int | None = None
    extra: list[object] = field(default_factory=list)

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def env(self, workdir: Path) -> dict[str, str]:
        """The environment of an `edgeops` run against this farm."""
        return {
            "EDGEOPS_KNOWN_HOSTS": str(self.known_hosts),
            "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
            "EDGEOPS_LEASES": str(workdir / "leases.sqlite"),
        }

    def devices_toml(self, path: Path, *extra_lines: str, timeout_s: float = 60) -> Path:
        """devices.toml with a [farm] table and no [[device]]: every device is a place."""
        key = self.boards["board-a"].client_key
        lines = [
            "[farm]",
            f'coordinator = "{self.coordinator.address}"',
            f"reserve_timeout_s = {timeout_s}",
            f'key = "{key}"',
            f'adb_key = "{self.root / "adbkey"}"',
            "[farm.labels]",
            f'python = "{sys.executable}"',
            f'remote_dir = "{self.root / "adb-remote"}"',
            *extra_lines,
        ]
        path.write_text("\n".join(lines) + "\n")
        return path


def _start_adbd(root: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    if not ADBD.is_file() or os.geteuid() != 0:
        return None
    port = free_port()
    process = subprocess.Popen(
        [str(ADBD)], env={**os.environ, "ADBD_PORT": str(port)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    return None


def start_farm(root: Path, with_adb: bool = True) -> Farm:
    if not SSHD.exists():
        pytest.skip(f"{SSHD} not found; ./install.sh installs openssh-server")
    if (
        shutil.which("labgrid-coordinator") is None
        and not (Path(sys.executable).parent / "labgrid-coordinator").exists()
    ):
        pytest.skip("labgrid is not installed; ./install.sh installs the labgrid extra")
    boards = {name: Sshd(root / name) for name in ("board-a", "board-b")}
    # One client key for the farm: labgrid publishes users and addresses, never keys.
    key = boards["board-a"].client_key
    (root / "board-b" / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    for board in boards.values():
        board.start()
    (root / "known_hosts").write_text("".join(b.known_hosts_line() for b in boards.values()))
    coordinator = Coordinator(root / "coordinator")
    coordinator.start()
    farm = Farm(root, coordinator, {}, boards)
    user = getpass.getuser()

    def service(board: Sshd) -> dict[str, object]:
        return {"address": "127.0.0.1", "port": board.port, "username": user}

    groups_b: dict[str, dict[str, object]] = {
        "board-b": {"NetworkService": service(boards["board-b"])}
    }
    started = _start_adbd(root) if with_adb else None
    if started is not None:
        farm.adbd, farm.adbd_port = started
        groups_b["phone-b"] = {"NetworkADBDevice": {"host": "127.0.0.1", "port": farm.adbd_port}}
    farm.exporters = {
        "host-a": Exporter(
            root / "host-a", coordinator, "host-a",
            {"board-a": {"NetworkService": service(boards["board-a"])}},
        ),
        "host-b": Exporter(root / "host-b", coordinator, "host-b", groups_b),
    }  # fmt: skip
    for exporter in farm.exporters.values():
        exporter.start()
    coordinator.add_place("board-a", "host-a/board-a/*", profile="rpi5", bus="ssh", cpus="0")
    coordinator.add_place("board-b", "host-b/board-b/*", profile="rpi5", bus="ssh", cpus="1")
    if farm.adbd is not None:
        coordinator.add_place("phone-b", "host-b/phone-b/*", bus="adb")
    return farm


def stop_farm(farm: Farm) -> None:
    for exporter in farm.exporters.values():
        exporter.kill()
    farm.coordinator.kill()
    for board in farm.boards.values():
        board.kill()
    if farm.adbd is not None and farm.adbd.poll() is None:
        os.killpg(farm.adbd.pid, signal.SIGKILL)
        farm.adbd.wait()
