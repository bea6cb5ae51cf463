"""A real labgrid farm on 127.0.0.1 for tests: ``labgrid-coordinator`` and ``labgrid-exporter`` processes.

Each exporter publishes the resources of a YAML file, as a lab host does; places
are created and tagged with the real ``labgrid-client``, as a lab admin does.
Nothing is installed here: ``./install.sh`` installs the ``labgrid`` extra.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT_S = 20.0
# The labgrid console scripts sit beside this environment's Python.
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


class _Process:
    def __init__(self, root: Path, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.root = root
        self.argv = argv
        self.env = env
        self.log = root / "log.txt"
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                # Unbuffered: tests read the coordinator's log of acquisitions as it runs.
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})},
                start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, as a host that loses power or network."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


class Coordinator(_Process):
    """``labgrid-coordinator --listen 127.0.0.1:PORT``; its places.yaml lives in ``root``."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        super().__init__(root, [_tool("labgrid-coordinator"), "--listen", self.address])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._spawn()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"labgrid-coordinator exited at start: {self.tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"labgrid-coordinator did not listen: {self.tail()}")

    def client(self, *args: str, place: str | None = None) -> str:
        """Run the real ``labgrid-client`` against this coordinator; its stdout."""
        argv = [_tool("labgrid-client"), "-x", self.address]
        if place is not None:
            argv += ["-p", place]
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=60, cwd=self.root
        )
        if done.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)} failed: {done.stderr[-1000:]}")
        return done.stdout

    def add_place(self, name: str, match: str, **tags: str) -> None:
        self.client("create", place=name)
        self.client("add-match", match, place=name)
        if tags:
            self.client("set-tags", *(f"{k}={v}" for k, v in tags.items()), place=name)


class Exporter(_Process):
    """``labgrid-exporter --name NAME resources.yaml``, publishing ``groups``.

    ``groups`` maps a group name to its resources, e.g.
    ``{"board-a": {"NetworkService": {"address": "127.0.0.1", "port": 2222, "username": "pi"}}}``.
    """

    def __init__(
        self, root: Path, coordinator: Coordinator, name: str, groups: dict[str, dict[str, object]]
    ) -> None:
        self.name = name
        self.coordinator = coordinator
        self.groups = groups
        config = root / "resources.yaml"
        super().__init__(
            root,
            [
                _tool("labgrid-exporter"), "--coordinator", coordinator.address,
                "--name", name, "--hostname", "127.0.0.1", str(config),
            ],
        )  # fmt: skip
        root.mkdir(parents=True, exist_ok=True)
        config.write_text(_yaml(groups))

    def start(self) -> None:
        self._spawn()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"labgrid-exporter {self.name} exited: {self.tail()}")
            if f"{self.name}/" in self.coordinator.client("resources"):
                return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"labgrid-exporter {self.name} did not register: {self.tail()}")


def _yaml(groups: dict[str, dict[str, object]]) -> str:
    """The exporter's resource file; JSON is YAML, and needs no YAML writer here."""
    import json

    return json.dumps(groups, indent=2) + "\n"
