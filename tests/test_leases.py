import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from edgeops.devices.leases import LeaseBook, resources_of
from edgeops.models import Device

from factories import FAST
from paths import DATA


def device(name: str, **labels: str) -> Device:
    return Device(id=name, name=name, transport="ssh", profile_id="host", labels=labels)


def test_resources_of_shared_and_pinned_devices():
    assert resources_of(device("a")) == ("device:a",)
    assert resources_of(device("a", host="h")) == ("device:a", "host:h:*")
    assert resources_of(device("a", host="h", cpus="0-1")) == (
        "device:a",
        "host:h:cpu:0",
        "host:h:cpu:1",
    )


def overlapped(book: LeaseBook, first: Device, second: Device) -> bool:
    """Whether `second` can be taken while `first` is held."""
    got = threading.Event()
    with book.hold(first, "run-1"):
        t = threading.Thread(
            target=lambda: book.hold(second, "run-2").__enter__() and None or got.set()
        )
        t.daemon = True
        t.start()
        t.join(0.6)
        result = got.is_set()
    t.join(5)
    return result


def test_unpinned_devices_on_one_host_take_turns(tmp_path):
    book = LeaseBook(tmp_path / "l.sqlite")
    assert not overlapped(book, device("a", host="h"), device("b", host="h"))
    assert not overlapped(
        LeaseBook(tmp_path / "2.sqlite"), device("a", host="h", cpus="0"), device("b", host="h")
    )


def test_pinned_apart_devices_on_one_host_run_at_once(tmp_path):
    book = LeaseBook(tmp_path / "l.sqlite")
    assert overlapped(book, device("a", host="h", cpus="0"), device("b", host="h", cpus="1"))
    assert not overlapped(
        LeaseBook(tmp_path / "2.sqlite"),
        device("a", host="h", cpus="0-1"),
        device("b", host="h", cpus="1"),
    )


def test_a_dead_holders_lease_is_recovered(tmp_path):
    path = tmp_path / "l.sqlite"
    book = LeaseBook(path)
    with book.hold(device("a"), "alive"):
        pass
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with sqlite3.connect(path) as db:  # a lease left by a process that no longer exists
        db.execute(
            "INSERT INTO leases VALUES ('device:a', 'ghost', ?, ?, ?, ?)",
            (book.hostname, dead.pid, time.time(), time.time()),
        )
    with book.hold(device("a"), "me", wait_s=2):
        pass
    assert ("recover", "device:a", "me") in [(e, r, h) for _, e, r, h in book.log()]


def test_a_stale_heartbeat_is_recovered_after_the_timeout(tmp_path):
    path = tmp_path / "l.sqlite"
    book = LeaseBook(path, timeout_s=0.5)
    with book.hold(device("a"), "x"):
        pass
    with sqlite3.connect(path) as db:  # held from another machine, silent for a second
        db.execute(
            "INSERT INTO leases VALUES ('device:a', 'far', 'elsewhere', 1, ?, ?)",
            (time.time() - 1, time.time() - 1),
        )
    with book.hold(device("a"), "me", wait_s=2):
        pass


@pytest.mark.slow
def test_two_concurrent_ships_never_measure_on_one_device_at_once(tmp_path):
    model = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
    env = {
        **os.environ,
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
        "EDGEOPS_LEASES": str(tmp_path / "l.sqlite"),
    }
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "edgeops", "ship", model, *FAST, "--json"],
            cwd=tmp_path / name, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], [o[1][-1000:] for o in outputs]
    run_ids = {json.loads(out)["run_id"] for out, _ in outputs}
    log = LeaseBook(tmp_path / "l.sqlite").log()
    holders = {h.split(":")[0] for _, _, r, h in log if r == "device:local"}
    assert holders == run_ids  # both runs measured on the one local device
    held_by = None
    for _, event, resource, holder in log:
        if resource != "device:local":
            continue
        if event == "acquire":
            assert held_by is None, f"{holder} acquired while {held_by} held it"
            held_by = holder
        elif event == "release":
            assert held_by == holder
            held_by = None
    for out, _ in outputs:
        assert all(m["status"] == "ok" for m in json.loads(out)["measurements"])
