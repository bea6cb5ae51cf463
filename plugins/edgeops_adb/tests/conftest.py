"""Fixtures: a real AOSP adbd on a free TCP port, started per test and killed after."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgeops.models import Device

from adb_testing import ADB, ADBD, Adbd, AdbServer, device_for


@pytest.fixture
def start_adbd() -> Iterator[Callable[..., Adbd]]:
    if not ADBD.is_file():
        pytest.skip(f"{ADBD} is missing: run ./install.sh (it installs Debian's adbd)")
    if os.geteuid() != 0:
        pytest.skip("adbd must run as root (Debian's README.adbd)")
    started: list[Adbd] = []

    def start(path: str | None = None) -> Adbd:
        env = dict(os.environ)
        if path is not None:
            env["PATH"] = path
        daemon = Adbd(env)
        daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def adbd(start_adbd: Callable[..., Adbd]) -> Adbd:
    return start_adbd()


@pytest.fixture
def adb_device(adbd: Adbd, tmp_path: Path) -> Device:
    return device_for(adbd, tmp_path)


@pytest.fixture
def adb_server(tmp_path: Path) -> Iterator[AdbServer]:
    if not ADB.is_file():
        pytest.skip(f"{ADB} is missing: run ./install.sh (it installs Debian's adb)")
    server = AdbServer(tmp_path / "adb-home")
    yield server
    server.kill()


@pytest.fixture
def served(adbd: Adbd, adb_server: AdbServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test adbd, as the adb server on its free port holds it."""
    from edgeops_adb.adb_server import PORT_ENV

    serial = f"127.0.0.1:{adbd.port}"
    adb_server.connect(serial)
    monkeypatch.setenv(PORT_ENV, str(adb_server.port))
    return serial
