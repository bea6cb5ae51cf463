"""Real signals to a real `edgeops ship`: SIGTERM, SIGKILL, and a resume racing a live run.

Issue 10, defects 4 to 6: a run has an owner; SIGTERM is Ctrl-C; a killed run's
probe dies with it; a resume never takes over a live run, keeps the run's
inventory and measures again what a device failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_ssh_boards import env_for, inventory

from factories import run_cli
from paths import DATA

pytestmark = pytest.mark.slow
MODEL = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
# No paced runs: these tests are about signals and resume, and the paced runs (two
# rates of twice --min-duration-s each, per probe) made every round five times longer.
NO_PACED = ("--paced-fps", "")
SLOW_ROUNDS = ("--rounds", "2", "--min-runs", "5", "--min-duration-s", "1.5", *NO_PACED)


def start_ship(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeops", "ship", *args, "--json"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip


def wait_for_rounds(cwd: Path, at_least: int, timeout_s: float = 240) -> Path:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for journal in (cwd / ".edgeops" / "runs").glob("*/rounds.jsonl"):
            if len(journal.read_text().splitlines()) >= at_least:
                return journal
        time.sleep(0.05)
    raise AssertionError(f"no run measured {at_least} round(s) in {timeout_s} s")


def probes_of(cwd: Path) -> list[int]:
    """Processes on this machine whose command line names a file under ``cwd``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(str(cwd).encode() in a for a in argv) and b"probe.py" in b" ".join(argv):
                found.append(int(entry.name))
    return found


def history(cwd: Path) -> list[dict]:
    return json.loads(run_cli("history", "--json", cwd=cwd).stdout)["runs"]


def env_local(cwd: Path) -> dict[str, str]:
    return {
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch",
        "EDGEOPS_LEASES": str(cwd / "leases.sqlite"),
    }


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    # One round per variant: the signal lands with three variants' rounds to go, and
    # the resume below measures those three instead of seven.
    rounds = ("--rounds", "1", "--min-runs", "5", "--min-duration-s", "1.5", *NO_PACED)
    process = start_ship(tmp_path, MODEL, *rounds, env=env_local(tmp_path))
    wait_for_rounds(tmp_path, 1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err[-2000:]
    assert "terminated (SIGTERM)" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert [r["status"] for r in history(tmp_path)] == ["interrupted"]
    assert probes_of(tmp_path) == []
    assert [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old"))] == []
    assert not (tmp_path / "dist").exists()
    resumed = run_cli("ship", "--resume", "--json", cwd=tmp_path, env=env_local(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [r["status"] for r in history(tmp_path)] == ["ok"]


def test_sigkill_takes_the_probe_with_it_and_the_run_reads_as_dead(tmp_path: Path) -> None:
    # Rounds of 4 s: an orphaned probe would outlive the 1 s looked at below. One round
    # per variant: the kill lands in a later variant's round, and the resume measures
    # the three left (seven rounds of 4 s with two per variant).
    rounds = ("--rounds", "1", "--min-runs", "5", "--min-duration-s", "4", *NO_PACED)
    process = start_ship(tmp_path, MODEL, *rounds, env=env_local(tmp_path))
    wait_for_rounds(tmp_path, 1)
    deadline = time.time() + 30
    while not probes_of(tmp_path) and time.time() < deadline:
        time.sleep(0.02)  # kill while a probe is measuring
    assert probes_of(tmp_path), "no probe was running"
    process.kill()
    process.wait()
    deadline = time.time() + 1
    while probes_of(tmp_path) and time.time() < deadline:
        time.sleep(0.05)
    assert probes_of(tmp_path) == []  # died with its parent, not measuring on alone
    assert [r["status"] for r in history(tmp_path)] == ["dead"]
    resumed = run_cli("ship", "--resume", "--json", cwd=tmp_path, env=env_local(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_resume_refuses_a_run_that_is_still_running(tmp_path: Path) -> None:
    process = start_ship(tmp_path, MODEL, *SLOW_ROUNDS, env=env_local(tmp_path))
    try:
        journal = wait_for_rounds(tmp_path, 1)
        run_id = journal.parent.name
        for how in ((), (run_id,)):
            second = run_cli("ship", "--resume", *how, cwd=tmp_path, env=env_local(tmp_path))
            assert second.returncode == 2, second.stderr[-2000:]
            last = second.stderr.strip().splitlines()[-1]
            assert ("still running" in last) or ("no interrupted run" in last), last
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    finally:
        process.kill()
    # 4 variants × 2 rounds, each round measured once; successive halving may stop
    # a clearly beaten variant after its first round, and then says so.
    rounds = Counter(
        (r["device_id"], r["variant_id"], r["compute_unit"])
        for r in map(json.loads, journal.read_text().splitlines())
    )
    assert len(rounds) == 4 and set(rounds.values()) <= {1, 2}, rounds
    (bundle,) = (tmp_path / "dist").iterdir()
    stopped = {
        (m["device_id"], m["variant_id"], m["compute_unit"])
        for m in json.loads((bundle / "results.json").read_text())["measurements"]
        if m["environment"].get("stopped_early")
    }
    assert {job for job, n in rounds.items() if n == 1} <= stopped


def test_resume_path_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    done = run_cli("ship", "--resume", "../../x", cwd=tmp_path, env=env_local(tmp_path))
    assert done.returncode == 2 and "run id" in done.stderr.strip().splitlines()[-1]


def test_resume_keeps_the_inventory_and_retries_a_failed_board(tmp_path: Path, make_sshd) -> None:
    board = make_sshd()
    devices = inventory(tmp_path / "devices.toml", {"pi": (board, "rpi5")})
    env = env_for(tmp_path)
    board.kill()
    first = run_cli(
        "ship", MODEL, "-p", "rpi5", "--devices", str(devices), "--rounds", "1",
        "--min-runs", "3", "--min-duration-s", "0", "--json", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert first.returncode == 4, first.stderr[-2000:]
    board.start()
    # No --devices: the run's own inventory is used, and the failed board retried.
    resumed = run_cli("ship", "--resume", "--json", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert {m["device_id"] for m in summary["measurements"]} == {"pi"}
    assert all(m["status"] == "ok" for m in summary["measurements"])
    assert [p["status"] for p in summary["plans"]] == ["supported"]
    assert [r["status"] for r in history(tmp_path)] == ["ok"]


def test_sigkill_takes_the_probe_on_an_ssh_board_with_it(tmp_path: Path, make_sshd) -> None:
    board = make_sshd()
    devices = inventory(tmp_path / "devices.toml", {"pi": (board, "rpi5")})
    rounds = ("--rounds", "2", "--min-runs", "5", "--min-duration-s", "4", *NO_PACED)
    process = start_ship(
        tmp_path, MODEL, "-p", "rpi5", "--devices", str(devices), *rounds, env=env_for(tmp_path)
    )
    wait_for_rounds(tmp_path, 1)
    remote = board.root  # the board's files, pushed probe and models included, live here
    deadline = time.time() + 30
    while not probes_of(remote) and time.time() < deadline:
        time.sleep(0.02)
    assert probes_of(remote), "no probe was running on the board"
    process.kill()
    process.wait()
    deadline = time.time() + 2
    while probes_of(remote) and time.time() < deadline:
        time.sleep(0.05)
    # The board's watchdog saw the session close and killed the probe.
    assert probes_of(remote) == []
