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


HOLDER_SCRIPT = """
import json, sys, time
from pathlib import Path
from edgeops.devices import leases
from edgeops.models import Device

leases.HEARTBEAT_S = 0.1  # beats well inside the 1 s timeout while it runs
book = leases.LeaseBook(Path(sys.argv[1]), timeout_s=1.0)
device = Device(id="a", name="a", transport="ssh", profile_id="host")
with book.hold(device, "frozen") as lease:
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))  # the probe's measuring time
    print(json.dumps(lease.lost()), flush=True)
"""


def _holder(path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_holder_that_keeps_beating_keeps_its_lease(tmp_path):
    path = tmp_path / "l.sqlite"
    holder = _holder(path, 3.0)
    try:
        with (
            pytest.raises(TimeoutError),
            LeaseBook(path, timeout_s=1.0).hold(device("a"), "other", wait_s=2),
        ):
            pass
    finally:
        out, _ = holder.communicate(timeout=30)
    assert json.loads(out) is None


def test_a_lease_lost_while_stopped_is_reported_by_the_holder(tmp_path):
    """SIGSTOP for longer than the timeout: another run takes the device meanwhile,
    and the stopped holder, resumed, learns its lease was lost (its measurement is void)."""
    import signal

    path = tmp_path / "l.sqlite"
    holder = _holder(path, 1.0)
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        with LeaseBook(path, timeout_s=1.0).hold(device("a"), "other", wait_s=10):
            time.sleep(0.2)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    out, _ = holder.communicate(timeout=30)
    lost = json.loads(out)
    assert lost and "lost while measuring" in lost


def test_a_measurement_under_a_lost_lease_is_void(tmp_path):
    from edgeops.devices.scheduling import DeviceWorker, MeasureJob, MeasureRunner, RoundBook
    from edgeops.models import Measurement, MeasureSettings

    from factories import variant

    path = tmp_path / "l.sqlite"
    book = LeaseBook(path, timeout_s=0.3)
    rival = LeaseBook(path, timeout_s=0.3)
    recorded: list[Measurement] = []

    class Runner(MeasureRunner):
        def connect(self, device):
            return object()

        def measure(self, session, job, settings):
            # The probe runs past the timeout without a beat (HEARTBEAT_S is 5 s), and
            # another run takes the device: as a frozen ship's probe would see it.
            time.sleep(0.5)
            with rival.hold(job.device, "rival", wait_s=5):
                pass
            return Measurement(
                variant_id=job.variant.id, device_id=job.device.id, profile_id="host",
                compute_unit="cpu", status="ok", samples_ms=(1.0, 1.0, 1.0), p50_ms=1.0,
            )  # fmt: skip

    runner = Runner(hook=None, holder="me", book=RoundBook({0: []}, recorded.append), leases=book)
    runner.advanced = lambda *a, **k: None  # type: ignore[method-assign]
    job = MeasureJob(index=0, device=device("a"), variant=variant("v"), compute_unit="cpu")
    DeviceWorker(runner, job.device, MeasureSettings(rounds=1)).run([job])
    assert [m.status for m in recorded] == ["error"], recorded[0].error
    assert recorded[0].error.startswith("void: the lease on device a was lost")
