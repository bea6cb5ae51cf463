"""The farm client against a real labgrid coordinator and exporters on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from edgeops.errors import DeviceError, UsageError
from edgeops_labgrid.client import RPC_TIMEOUT_S, FarmClient, client_name
from edgeops_labgrid.config import farm_devices, read_farm, tags_of
from edgeops_labgrid.testing_farm import free_port


@pytest.mark.slow
def test_places_carry_tags_and_the_resources_their_exporters_publish(shared_farm):
    with FarmClient(shared_farm.coordinator.address, "t1") as client:
        places = {p.name: p for p in client.places()}
    assert places["board-a"].tags == {"profile": "rpi5", "bus": "ssh", "cpus": "0"}
    usable = places["board-b"].usable()
    assert usable is not None and usable.path == "host-b/board-b/NetworkService/NetworkService"
    assert usable.params["port"] == shared_farm.boards["board-b"].port
    assert places["board-a"].health == "ok"
    if shared_farm.adbd is not None:
        adb = places["phone-b"].usable()
        assert adb is not None and adb.cls == "NetworkADBDevice"
        assert adb.params["port"] == shared_farm.adbd_port


@pytest.mark.slow
def test_farm_devices_come_from_profile_tags_or_the_farm_table(shared_farm, tmp_path):
    farm = read_farm(shared_farm.devices_toml(tmp_path / "devices.toml"))
    assert farm is not None and farm.coordinator == shared_farm.coordinator.address
    with FarmClient(farm.coordinator, "t2") as client:
        tags = [p.tags for p in client.places()]
    (device,) = farm_devices(farm, tags)
    assert device.transport == "labgrid" and device.profile_id == "rpi5"
    assert tags_of(device) == {"profile": "rpi5"}
    configured = read_farm(
        shared_farm.devices_toml(
            tmp_path / "d2.toml", "[farm.profiles.pixel6]", 'tags = { bus = "adb" }'
        )
    )
    assert configured is not None
    assert [tags_of(d) for d in farm_devices(configured, tags)] == [{"bus": "adb"}]


@pytest.mark.slow
def test_two_clients_never_get_the_same_place_and_a_third_waits(shared_farm):
    address = shared_farm.coordinator.address
    with FarmClient(address, "run-a") as a, FarmClient(address, "run-b") as b:
        first = a.reserve({"profile": "rpi5"}, timeout_s=5)
        second = b.reserve({"profile": "rpi5"}, timeout_s=5)
        assert {first.place, second.place} == {"board-a", "board-b"}
        with pytest.raises(DeviceError, match="free within 1 s"):
            b.reserve({"profile": "rpi5"}, timeout_s=1)
        # Only the reservation's owner may acquire its place: the coordinator refuses b.
        with pytest.raises(DeviceError, match="not reserved for"):
            b.acquire(first.place)
        a.acquire(first.place)
        with pytest.raises(DeviceError, match="already acquired"):
            b.acquire(first.place)
        held = {p.name: p.acquired for p in a.places()}
        assert held[first.place] == client_name("run-a")
        # The place a frees goes to b's waiting reservation.
        a.release(first.place)
        a.cancel(first.token)
        third = b.reserve({"profile": "rpi5"}, timeout_s=5)
        assert third.place == first.place
    with FarmClient(address, "check") as c:
        assert all(p.acquired is None and p.reservation is None for p in c.places())
        assert c.reservations() == []


@pytest.mark.slow
def test_a_killed_holder_is_freed_by_its_watchdog(shared_farm):
    """SIGKILL leaves labgrid's place acquired for good; the run's watchdog frees it."""
    address = shared_farm.coordinator.address
    script = (
        "import sys, time\n"
        "from edgeops_labgrid.client import FarmClient\n"
        "from edgeops_labgrid import watchdog\n"
        f"c = FarmClient({address!r}, 'doomed')\n"
        "watchdog.start(c.address, c.name)\n"
        "r = c.reserve({'profile': 'rpi5'}, 5)\n"
        "c.acquire(r.place)\n"
        "print(r.place, flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        place = holder.stdout.readline().strip()
        with FarmClient(address, "observer") as observer:
            held = observer.place(place)
            assert held is not None and held.acquired == client_name("doomed")
            holder.kill()
            holder.wait()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                p = observer.place(place)
                if p is not None and p.acquired is None and p.reservation is None:
                    break
                time.sleep(0.1)
            p = observer.place(place)
            assert p is not None and p.acquired is None and p.reservation is None
            assert observer.reservations() == []
    finally:
        holder.kill()


def test_an_unreachable_coordinator_is_one_line_naming_the_fix():
    with pytest.raises(UsageError, match="cannot reach the labgrid coordinator .* LG_COORDINATOR"):
        FarmClient(f"127.0.0.1:{free_port()}", "nobody")


@pytest.mark.slow
def test_edgeops_devices_shows_places_tags_holders_and_health(farm, tmp_path):
    devices = farm.devices_toml(tmp_path / "farm.toml")
    with FarmClient(farm.coordinator.address, "holder") as holder:
        held = holder.reserve({"name": "board-a"}, timeout_s=5)
        holder.acquire(held.place)
        farm.exporters["host-b"].kill()  # board-b's host goes down
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            place = holder.place("board-b")
            if place is not None and not place.resources:
                break
            time.sleep(0.1)
        shown = subprocess.run(
            [sys.executable, "-m", "edgeops", "devices", "--devices", str(devices), "--json"],
            capture_output=True, text=True, timeout=120, env={**os.environ, **farm.env(tmp_path)},
        )  # fmt: skip
        table = subprocess.run(
            [sys.executable, "-m", "edgeops", "devices", "--devices", str(devices)],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, **farm.env(tmp_path), "COLUMNS": "250"},
        )  # fmt: skip
        # The coordinator dies: the next read fails at once, naming it, instead of
        # waiting RPC_TIMEOUT_S for an answer to a sync nothing will send.
        farm.coordinator.kill()
        started = time.monotonic()
        with pytest.raises(DeviceError, match="lost the labgrid coordinator at .*stream ended"):
            while time.monotonic() - started < RPC_TIMEOUT_S:
                holder.places()  # the last known state until the client sees the stream end
                time.sleep(0.05)
        assert time.monotonic() - started < RPC_TIMEOUT_S / 2
    assert shown.returncode == 0, shown.stderr
    (row,) = [r for r in json.loads(shown.stdout)["devices"] if r["transport"] == "labgrid"]
    assert row["profile"] == "rpi5" and row["reachable"]
    places = {p["place"]: p for p in row["places"]}
    assert set(places) == {"board-a", "board-b"}
    assert places["board-a"]["held_by"] == client_name("holder")
    assert places["board-a"]["tags"] == {"profile": "rpi5", "bus": "ssh", "cpus": "0"}
    assert places["board-a"]["health"] == "ok"
    assert places["board-b"]["held_by"] is None
    assert places["board-b"]["health"] == "no resources (exporter down?)"
    assert row["lease"] == "0 of 2 place(s) free"
    assert table.returncode == 0 and "places of farm rpi5" in table.stdout
    assert "board-b" in table.stdout and "exporter down" in table.stdout


def test_without_a_farm_the_plugin_adds_no_device(tmp_path, monkeypatch):
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    inventory = tmp_path / "devices.toml"
    inventory.write_text('[[device]]\nname = "pi"\ntransport = "ssh"\nprofile = "rpi5"\n')
    assert read_farm(inventory) is None and read_farm(None) is None
    monkeypatch.setenv("LG_COORDINATOR", "lab:20408")
    farm = read_farm(None)
    assert farm is not None and farm.coordinator == "lab:20408"


def test_a_bad_farm_table_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    inventory = tmp_path / "devices.toml"
    inventory.write_text("[farm]\nreserve_timeout_s = 5\n")
    with pytest.raises(
        UsageError, match=r"\[farm\] coordinator: Field required; set it or LG_COORDINATOR"
    ):
        read_farm(inventory)
    inventory.write_text('[farm]\ncoordinator = "lab"\nreserve_timout_s = 5\n')
    with pytest.raises(UsageError, match="reserve_timout_s: Extra inputs"):
        read_farm(inventory)
