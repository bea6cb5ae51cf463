"""Phones held by a running adb server: a real Debian ``adb`` server, connected to a real adbd.

No USB phone is attached here: the server reaches adbd over TCP loopback
(``adb connect``), which is the same server-side path a USB phone's commands
and pushes take once the server holds it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from edgeops.cli import main
from edgeops.devices.discovery import discover_devices
from edgeops.errors import DeviceError
from edgeops.files import sha256_file
from edgeops_adb.adb_server import PORT_ENV, ServerDevice, discover, parse_devices
from edgeops_adb.session import AdbSession

from adb_testing import (
    LOGCAT_LOG,
    free_port,
    server_device,
    ship_json,
    sigkill_mid_command_leaves_no_command,
    silent_listener,
    stand_in_benchmark_model,
)


def test_no_server_means_no_devices_and_no_wait(monkeypatch, edgeops_pm):
    monkeypatch.setenv(PORT_ENV, str(free_port()))
    started = time.monotonic()
    assert discover() == []
    assert not [d for d in discover_devices(edgeops_pm) if d.transport == "adb"]
    assert time.monotonic() - started < 1


def test_a_port_held_by_something_else_means_no_devices(monkeypatch):
    with silent_listener() as other:
        monkeypatch.setenv(PORT_ENV, str(other.getsockname()[1]))
        started = time.monotonic()
        assert discover() == []
    assert time.monotonic() - started < 3  # the 2 s answer limit, not the 10 s of a request


def test_a_port_that_is_not_a_number_names_the_fix(monkeypatch):
    monkeypatch.setenv(PORT_ENV, "five")
    with pytest.raises(DeviceError, match=f"{PORT_ENV}='five' is not a port number; set it"):
        discover()


def test_the_servers_phone_is_discovered_and_runs_commands(served, edgeops_pm, tmp_path):
    device = server_device(edgeops_pm, served, tmp_path)
    assert (
        device.transport == "adb"
        and device.address == f"adb-server:{os.environ[PORT_ENV]}:{served}"
    )
    assert device.id == f"adb-127.0.0.1_{served.rsplit(':', 1)[1]}"
    # Debian's adbd has no build properties, so devices-l gives no model to match.
    assert device.profile_id == "unknown:device"
    session = edgeops_pm.hook.edgeops_connect(device=device)
    try:
        assert isinstance(session, AdbSession)
        assert session.run(["sh", "-c", "echo hi; exit 3"], timeout_s=10).stdout == "hi\n"
        assert session.run(["sh", "-c", "exit 3"], timeout_s=10).exit_code == 3
        hostile = ["a b", "it's", "$(touch pwned)", "new\nline"]
        assert (
            session.run(["printf", "%s|", *hostile], timeout_s=10).stdout
            == "a b|it's|$(touch pwned)|new\nline|"
        )
        with pytest.raises(TimeoutError):
            session.run(["sleep", "5"], timeout_s=1)
    finally:
        session.close()


def test_adbd_killed_mid_command_behind_the_server_is_a_device_error_at_once(
    served, adbd, edgeops_pm, tmp_path
):
    session = edgeops_pm.hook.edgeops_connect(device=server_device(edgeops_pm, served, tmp_path))
    threading.Timer(0.5, adbd.kill).start()
    started = time.monotonic()
    with pytest.raises(DeviceError, match="the connection dropped"):
        session.run(["sleep", "110"], timeout_s=120)
    assert time.monotonic() - started < 5
    with pytest.raises(DeviceError, match="at the adb server|cannot reach"):
        session.run(["true"], timeout_s=10)


def test_a_push_through_the_server_arrives_whole_with_its_mode(served, edgeops_pm, tmp_path):
    device = server_device(edgeops_pm, served, tmp_path / "remote")
    local = tmp_path / "model.tflite"
    # Over 64 KiB, so it takes several DATA chunks, and not a multiple of them.
    local.write_bytes(os.urandom(3 * 65536 + 123))
    local.chmod(0o600)
    session = edgeops_pm.hook.edgeops_connect(device=device)
    try:
        remote = session.push(local)
        assert sha256_file(Path(remote)) == sha256_file(local)
        assert session.run(["stat", "-c", "%a", remote], timeout_s=10).stdout.strip() == "644"
    finally:
        session.close()


def test_a_command_through_the_server_dies_with_its_client(served, edgeops_pm, tmp_path):
    sigkill_mid_command_leaves_no_command(server_device(edgeops_pm, served, tmp_path), tmp_path)


def test_the_devices_l_format_with_spaces_in_the_state():
    """Lines as adb's transport.cpp prints them (its ``-l`` form); a state can hold spaces."""
    text = (
        "0123456789ABCDEF       device usb:1-1 product:oriole model:Pixel_6 device:oriole transport_id:3\n"
        "R5CT30ABCDE            unauthorized usb:1-2 transport_id:4\n"
        "HT4AB1234              no permissions (missing udev rules? user is in the plugdev group); "
        "see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:5\n"
    )
    pixel, galaxy, nexus = parse_devices(text)
    assert (pixel.serial, pixel.state, pixel.model) == ("0123456789ABCDEF", "device", "Pixel 6")
    assert galaxy == ServerDevice(
        "R5CT30ABCDE", "unauthorized", {"usb": "1-2", "transport_id": "4"}
    )
    assert nexus.state.startswith("no permissions (missing udev rules?")
    assert nexus.details == {"usb": "1-3", "transport_id": "5"}
    assert "accept the debugging prompt on the phone" in galaxy.fix()
    assert "udev rules" in nexus.fix()


@pytest.mark.slow
def test_an_offline_phone_is_listed_with_the_fix_not_dropped(adb_server, monkeypatch, capsys):
    """A phone whose adbd never answers is "offline" at the server (`adb connect` gives up
    after 10 s): `edgeops devices` lists it, says why and what to do, and no plan is made on it."""
    monkeypatch.setenv(PORT_ENV, str(adb_server.port))
    with silent_listener() as hung:
        serial = f"127.0.0.1:{hung.getsockname()[1]}"
        adb_server.connect(serial, state="offline")
        assert main(["devices", "--json"]) == 0
    rows = {r["address"]: r for r in json.loads(capsys.readouterr().out)["devices"]}
    offline = rows[f"adb-server:{adb_server.port}:{serial}"]
    assert offline["transport"] == "adb" and offline["profile"] == "unknown:offline"
    assert offline["reachable"] is False
    assert offline["error"].endswith(
        "is offline at the adb server: reconnect the cable or run `adb reconnect`, then run again"
    )


def phone_inventory(tmp_path: Path, address: str, **labels: str) -> Path:
    devices = tmp_path / "devices.toml"
    written = ", ".join(
        f'{k} = "{v}"' for k, v in {"remote_dir": tmp_path / "remote", **labels}.items()
    )
    devices.write_text(
        "[[device]]\n"
        'name = "phone"\n'
        'transport = "adb"\n'
        f'address = "{address}"\n'
        'profile = "pixel6"\n'
        f"labels = {{ {written} }}\n"
    )
    return devices


def test_the_inventorys_entry_for_a_server_phone_wins_and_devices_reaches_it(
    served, tmp_path, capsys
):
    address = f"adb-server:{os.environ[PORT_ENV]}:{served}"
    assert main(["devices", "--devices", str(phone_inventory(tmp_path, address)), "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out)["devices"] if r["address"] == address]
    assert [(r["name"], r["profile"], r["reachable"]) for r in rows] == [("phone", "pixel6", True)]
    assert rows[0]["facts"]["os"].startswith("Linux ")  # describe() ran through the server


def test_ship_measures_a_phone_through_the_adb_server(served, tmp_path):
    stand_in = stand_in_benchmark_model(tmp_path / "tool", LOGCAT_LOG)
    address = f"adb-server:{os.environ[PORT_ENV]}:{served}"
    devices = phone_inventory(tmp_path, address, benchmark_model=str(stand_in))
    with devices.open("a") as f:
        f.write('python = ""\n')  # a phone: no Python there
    summary = ship_json(devices, "pixel6", tmp_path, "--rounds", "1")
    assert {m["device_id"] for m in summary["measurements"]} == {"phone"}
    for m in summary["measurements"]:
        assert m["status"] == "ok" and m["p50_ms"] == 12.1676, m["error"]
    assert [(p["profile_id"], p["status"]) for p in summary["plans"]] == [("pixel6", "supported")]
