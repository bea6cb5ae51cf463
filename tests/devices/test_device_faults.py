"""Device and infrastructure faults are reported as such, never as a model that does not fit.

Real peers only (issue 10, defects 3 and 9): the loopback sshd helper killed, with
its host key changed, refusing our key; a closed port; a TCP listener that never
speaks SSH; a black-holed address (SYNs dropped); a corrupt lease file. Each `ship`
is a real subprocess on a tiny model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ssh_boards import env_for, inventory

from edgeops_ssh.testing_sshd import Sshd, black_holed_port, free_port

from factories import run_cli, tiny_onnx

pytestmark = pytest.mark.slow
QUICK = ("--rounds", "1", "--min-runs", "3", "--min-duration-s", "0")
EXIT_DEVICE_FAILED = 4
# The board's connect_timeout_s label, for the peers that never answer: each attempt
# (and its one retry) waits this long, not the default CONNECT_TIMEOUT_S (10 s).
SILENT_PEER_TIMEOUT_S = 3


def ship_on(tmp_path: Path, devices: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    tiny_onnx(tmp_path / "m.onnx")
    done = run_cli(
        "ship", "m.onnx", "-p", "rpi5", "--devices", str(devices), *QUICK, "--json",
        cwd=tmp_path, env=env_for(tmp_path), timeout_s=300,
    )  # fmt: skip
    return done, json.loads(done.stdout) if done.stdout.strip() else {}


def assert_device_failed(
    cwd: Path, done: subprocess.CompletedProcess[str], summary: dict, says: str
) -> None:
    assert done.returncode == EXIT_DEVICE_FAILED, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("edgeops: error: profile rpi5: device pi failed") and says in last, last
    (plan,) = summary["plans"]
    assert plan["status"] == "device_failed" and plan["nearest_miss"] is None
    assert says in plan["note"] and "quality floor" not in plan["note"]
    manifest = json.loads((cwd / summary["bundle"] / "manifest.json").read_text())
    profile = manifest["profiles"]["rpi5"]
    assert (profile["status"], profile["choices"]) == ("device_failed", [])


def with_address(devices: Path, address: str) -> Path:
    text = devices.read_text()
    start = text.index('address = "') + len('address = "')
    devices.write_text(text[:start] + address + text[text.index('"', start) :])
    return devices


def test_a_board_with_a_changed_host_key_fails_the_run(tmp_path: Path, make_sshd) -> None:
    board: Sshd = make_sshd()
    devices = inventory(tmp_path / "devices.toml", {"pi": (board, "rpi5")})
    board.rotate_host_key()
    assert_device_failed(tmp_path, *ship_on(tmp_path, devices), says="host key")


def test_a_board_refusing_our_key_fails_the_run(tmp_path: Path, make_sshd) -> None:
    board: Sshd = make_sshd()
    devices = inventory(tmp_path / "devices.toml", {"pi": (board, "rpi5")})
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    text = devices.read_text().replace(str(board.client_key), str(stranger))
    devices.write_text(text)
    assert_device_failed(tmp_path, *ship_on(tmp_path, devices), says="login refused")


def test_a_killed_board_fails_the_run(tmp_path: Path, make_sshd) -> None:
    board: Sshd = make_sshd()
    devices = inventory(tmp_path / "devices.toml", {"pi": (board, "rpi5")})
    board.kill()
    assert_device_failed(tmp_path, *ship_on(tmp_path, devices), says="cannot connect over SSH")


def test_a_closed_port_fails_the_run(tmp_path: Path, make_sshd) -> None:
    devices = inventory(tmp_path / "devices.toml", {"pi": (make_sshd(), "rpi5")})
    with_address(devices, f"127.0.0.1:{free_port()}")
    assert_device_failed(tmp_path, *ship_on(tmp_path, devices), says="cannot connect over SSH")


def test_a_black_holed_address_fails_the_run(tmp_path: Path, make_sshd) -> None:
    # Issue 10 item 3: the manifest said `unsupported` for this. The connect times out
    # (the board's connect_timeout_s) on the attempt and on its one retry.
    timeout = {"connect_timeout_s": str(SILENT_PEER_TIMEOUT_S)}
    devices = inventory(tmp_path / "devices.toml", {"pi": (make_sshd(), "rpi5")}, pi=timeout)
    with black_holed_port() as port:
        with_address(devices, f"127.0.0.1:{port}")
        started = time.monotonic()
        done, summary = ship_on(tmp_path, devices)
        took_s = time.monotonic() - started
    says = f"no answer to the TCP connect in {SILENT_PEER_TIMEOUT_S} s"
    assert_device_failed(tmp_path, done, summary, says=says)
    assert f"127.0.0.1:{port}" in done.stderr.strip().splitlines()[-1]
    # Every variant's measurement is the device's failure: the first after its retry,
    # the rest because the device was quarantined for the run; each names the address.
    results = json.loads((tmp_path / summary["bundle"] / "results.json").read_text())
    measurements = results["measurements"]
    assert [m["error"] for m in measurements] == [m["error"] for m in summary["measurements"]]
    assert measurements and {m["status"] for m in measurements} == {"device_failed"}
    assert "device failed twice" in measurements[0]["error"]
    for m in measurements:
        assert f"127.0.0.1:{port}" in m["error"] and "firewall" in m["error"], m["error"]
    assert took_s < 2 * SILENT_PEER_TIMEOUT_S + 60, took_s


@pytest.fixture
def mute_listener() -> Iterator[int]:
    """A port that accepts TCP and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_port_that_never_speaks_ssh_is_one_line(
    tmp_path: Path, make_sshd, mute_listener: int
) -> None:
    timeout = {"connect_timeout_s": str(SILENT_PEER_TIMEOUT_S)}
    devices = inventory(tmp_path / "devices.toml", {"pi": (make_sshd(), "rpi5")}, pi=timeout)
    with_address(devices, f"127.0.0.1:{mute_listener}")
    done, summary = ship_on(tmp_path, devices)
    says = f"no SSH banner in {SILENT_PEER_TIMEOUT_S} s"
    assert_device_failed(tmp_path, done, summary, says=says)
    assert "Exception (client)" not in done.stderr


def test_a_corrupt_lease_file_is_edgeops_failure_not_the_device(tmp_path: Path, make_sshd) -> None:
    devices = inventory(tmp_path / "devices.toml", {"pi": (make_sshd(), "rpi5")})
    (tmp_path / "leases.sqlite").write_bytes(b"this is not a database" * 100)
    done, _ = ship_on(tmp_path, devices)
    assert done.returncode not in (0, EXIT_DEVICE_FAILED), done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "lease file" in last and "leases.sqlite" in last and "Traceback" not in done.stderr
    assert not (tmp_path / "dist").exists()
