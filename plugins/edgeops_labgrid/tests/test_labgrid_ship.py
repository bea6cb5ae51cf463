"""`edgeops ship --devices farm.toml` on a real labgrid farm: coordinator, two exporters, boards.

Every run is the real CLI in a subprocess; the coordinator's own log of
acquisitions and releases is the evidence of who held which place when.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeops_labgrid.client import FarmClient

pytestmark = pytest.mark.slow

FAST = ("--rounds", "2", "--min-runs", "5", "--min-duration-s", "0.05", "--threads", "1")
EXIT_INTERRUPTED = 130


def edgeops(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeops", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def ship(farm, model: Path, workdir: Path, *extra: str, devices: Path | None = None):
    workdir.mkdir(parents=True, exist_ok=True)
    devices = devices or farm.devices_toml(workdir / "farm.toml")
    run = edgeops(
        "ship", str(model), "-p", "rpi5", "--devices", str(devices), "--out",
        str(workdir / "dist"), "--json", *FAST, *extra, cwd=workdir, env=farm.env(workdir),
    )  # fmt: skip
    return run


def finished(run: subprocess.Popen[str], timeout_s: float = 300, exit_code: int = 0) -> dict:
    out, err = run.communicate(timeout=timeout_s)
    assert run.returncode == exit_code, err[-3000:]
    return json.loads(out)


def holds(farm) -> list[tuple[str, str, str]]:
    """(place, "acquired"/"released", holder) in the coordinator's order."""
    events = []
    for line in farm.coordinator.log.read_text().splitlines():
        if m := re.match(r"(\S+): place acquired by (\S+)$", line):
            events.append((m[1], "acquired", m[2]))
        elif m := re.match(r"(\S+): place released$", line):
            events.append((m[1], "released", ""))
    return events


def assert_nothing_held(farm) -> None:
    with FarmClient(farm.coordinator.address, "check") as client:
        places = client.places()
        assert [p.name for p in places if p.acquired or p.reservation] == []
        assert client.reservations() == []


def test_ship_measures_on_places_reserved_by_tag_and_names_them(
    shared_farm, tiny_onnx_model, tmp_path
):
    summary = finished(ship(shared_farm, tiny_onnx_model, tmp_path))
    measurements = summary["measurements"]
    assert measurements and all(m["status"] == "ok" for m in measurements), measurements
    places = set()
    for m in measurements:
        env = m["environment"]
        assert m["device_id"] == "farm-rpi5" and m["samples_ms"]
        assert env["farm_place"] in {"board-a", "board-b"}
        exporter = {"board-a": "host-a", "board-b": "host-b"}[env["farm_place"]]
        assert env["farm_exporter"] == exporter
        assert (
            env["farm_resource"] == f"{exporter}/{env['farm_place']}/NetworkService/NetworkService"
        )
        port = shared_farm.boards[env["farm_place"]].port
        assert env["farm_address"] == f"127.0.0.1:{port}"
        places.add(env["farm_place"])
    # Parallel across places: both boards measured.
    assert places == {"board-a", "board-b"}
    plans = {p["profile_id"]: p["status"] for p in summary["plans"]}
    assert plans == {"rpi5": "supported"}
    results = json.loads((tmp_path / "dist" / "results.json").read_text())
    assert all("farm_place" in m["environment"] for m in results["measurements"])
    assert_nothing_held(shared_farm)


def test_two_concurrent_ships_never_measure_on_the_same_place(
    shared_farm, tiny_onnx_model, tmp_path
):
    before = len(holds(shared_farm))
    runs = [ship(shared_farm, tiny_onnx_model, tmp_path / name) for name in ("one", "two")]
    summaries = [finished(run) for run in runs]
    for summary in summaries:
        assert all(m["status"] == "ok" for m in summary["measurements"])
    events = holds(shared_farm)[before:]
    holders = {h for _p, what, h in events if what == "acquired"}
    assert len(holders) == 2, events  # both runs measured
    for place in ("board-a", "board-b"):
        mine = [(what, h) for p, what, h in events if p == place]
        # Each acquisition is released before the next: never two holders at once.
        assert [w for w, _ in mine] == ["acquired", "released"] * (len(mine) // 2), mine
    assert_nothing_held(shared_farm)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_ship_frees_its_places(shared_farm, tiny_onnx_model, tmp_path, signum):
    # The shared farm: a killed ship leaves it whole (what this test asserts), so it
    # needs no farm of its own (about 10 s to start). Only this run's events count.
    farm = shared_farm
    before = len(holds(farm))
    run = ship(farm, tiny_onnx_model, tmp_path, "--rounds", "50")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            what == "acquired" for _p, what, _h in holds(farm)[before:]
        ):
            assert run.poll() is None, run.communicate()[1][-2000:]
            time.sleep(0.1)
        run.send_signal(signum)
        code = run.wait(timeout=60)
        if signum == signal.SIGTERM:
            # SIGTERM ends the run as Ctrl-C does: recorded as interrupted, places released.
            assert code == EXIT_INTERRUPTED, run.communicate()[1][-2000:]
        killed_at = time.monotonic()
        with FarmClient(farm.coordinator.address, "check") as client:
            while time.monotonic() - killed_at < 20:
                places = client.places()
                if (
                    not any(p.acquired or p.reservation for p in places)
                    and not client.reservations()
                ):
                    break
                time.sleep(0.1)
            freed_s = time.monotonic() - killed_at
        assert_nothing_held(farm)
        # Well within labgrid's 60 s reservation timeout.
        assert freed_s < 20
    finally:
        run.kill()
        run.communicate()


@pytest.mark.parametrize("lost", ["exporter", "board"])
def test_a_place_lost_mid_run_moves_its_measurements_to_the_other_place(
    farm, tiny_onnx_model, tmp_path, lost
):
    """Its exporter killed (labgrid no longer publishes it), or its board (sshd) killed."""
    run = ship(farm, tiny_onnx_model, tmp_path, "--rounds", "4")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        p == "board-b" and what == "acquired" for p, what, _h in holds(farm)
    ):
        assert run.poll() is None, run.communicate()[1][-2000:]
        time.sleep(0.05)
    if lost == "exporter":
        farm.exporters["host-b"].kill()
    else:
        farm.boards["board-b"].kill()
    summary = finished(run)
    measurements = summary["measurements"]
    assert measurements
    for m in measurements:
        if m["status"] != "ok":
            # Never the model's fault: a device failure, naming the place.
            assert m["error"].startswith("device failure, not the model's"), m["error"]
            assert "board-b" in m["error"]
    # The run finished on the rest: every measurement is whole, the last rounds on board-a.
    ok = [m for m in measurements if m["status"] == "ok"]
    # Every round, save those successive halving chose not to measure.
    assert ok and all(m["rounds"] == 4 or "stopped_early" in m["environment"] for m in ok)
    results = json.loads((tmp_path / "dist" / "results.json").read_text())
    assert results["measurements"]
    events = holds(farm)
    last_b = max(i for i, (p, what, _h) in enumerate(events) if p == "board-b")
    assert any(p == "board-a" and what == "acquired" for p, what, _h in events[last_b:])
    assert_nothing_held(farm)


def test_a_phone_place_is_measured_over_network_adb(shared_farm, tiny_onnx_model, tmp_path):
    if shared_farm.adbd is None:
        pytest.skip("adbd is not installed or this is not root: ./install.sh installs it")
    devices = shared_farm.devices_toml(
        tmp_path / "farm.toml", "[farm.profiles.host]", 'tags = { bus = "adb" }'
    )
    run = edgeops(
        "ship", str(tiny_onnx_model), "-p", "host", "--devices", str(devices), "--out",
        str(tmp_path / "dist"), "--json", *FAST, cwd=tmp_path, env=shared_farm.env(tmp_path),
    )  # fmt: skip
    summary = finished(run)
    ok = [m for m in summary["measurements"] if m["status"] == "ok"]
    assert ok
    for m in ok:
        assert m["environment"]["farm_place"] == "phone-b"
        assert (
            m["environment"]["farm_resource"] == "host-b/phone-b/NetworkADBDevice/NetworkADBDevice"
        )
    assert_nothing_held(shared_farm)


def test_farm_and_this_machine_measure_in_one_run(shared_farm, tiny_onnx_model, tmp_path):
    """rpi5 on the farm's places, host on this machine through the core's default, at once."""
    summary = finished(ship(shared_farm, tiny_onnx_model, tmp_path, "-p", "host"))
    by_profile: dict[str, list[dict]] = {}
    for m in summary["measurements"]:
        by_profile.setdefault(m["profile_id"], []).append(m)
    farm_ok = [m for m in by_profile["rpi5"] if m["status"] == "ok"]
    host_ok = [m for m in by_profile["host"] if m["status"] == "ok"]
    assert farm_ok and host_ok
    assert all(m["environment"]["farm_place"] in {"board-a", "board-b"} for m in farm_ok)
    assert all("farm_place" not in m["environment"] for m in host_ok)
    assert {m["device_id"] for m in host_ok} != {"farm-rpi5"}
    assert_nothing_held(shared_farm)


def test_a_coordinator_that_dies_mid_run_makes_device_failures_and_the_run_finishes(
    farm, tiny_onnx_model, tmp_path
):
    run = ship(farm, tiny_onnx_model, tmp_path, "--rounds", "3", "-p", "host")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        what == "acquired" for _p, what, _h in holds(farm)
    ):
        assert run.poll() is None, run.communicate()[1][-2000:]
        time.sleep(0.05)
    farm.coordinator.kill()
    # The run finishes, and exits 4: a profile whose devices failed is not shipped as fine.
    summary = finished(run, exit_code=4)
    assert (
        next(p for p in summary["plans"] if p["profile_id"] == "rpi5")["status"] == "device_failed"
    )
    farm_failed = [
        m for m in summary["measurements"] if m["profile_id"] == "rpi5" and m["status"] != "ok"
    ]
    assert farm_failed
    assert all(m["error"].startswith("device failure, not the model's") for m in farm_failed)
    # This machine's measurements went on through the core's default.
    assert any(m["profile_id"] == "host" and m["status"] == "ok" for m in summary["measurements"])


def test_an_unreachable_coordinator_stops_ship_with_one_line(tmp_path, tiny_onnx_model):
    from edgeops_labgrid.testing_farm import free_port

    devices = tmp_path / "farm.toml"
    devices.write_text(f'[farm]\ncoordinator = "127.0.0.1:{free_port()}"\n')
    run = edgeops(
        "ship", str(tiny_onnx_model), "-p", "rpi5", "--devices", str(devices),
        cwd=tmp_path, env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"},
    )  # fmt: skip
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the labgrid coordinator" in lines[0], err
    assert "Traceback" not in err
