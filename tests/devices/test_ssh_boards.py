"""Boards over SSH end to end: real sshd servers on 127.0.0.1, the real probe and runtimes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeops.devices.leases import LeaseBook
from edgeops_ssh.testing_sshd import Sshd

from factories import FAST, run_cli
from paths import DATA, REPO

pytestmark = pytest.mark.slow
ULTRAFACE = str(DATA / "models/onnx/ultraface__version-slim-320.onnx")
ONNX_ONLY = "tflite,coreml,executorch"


def inventory(path: Path, boards: dict[str, tuple[Sshd, str]], **labels: dict[str, str]) -> Path:
    """devices.toml naming each board, its profile, and extra keys per board."""
    lines = []
    for name, (server, profile) in boards.items():
        device = server.device(name)
        lines += [
            "[[device]]",
            f"name = {json.dumps(name)}",
            'transport = "ssh"',
            f'address = "{device.address}"',
            f'user = "{device.user}"',
            f'key = "{device.key_path}"',
            f'profile = "{profile}"',
            f'python = "{sys.executable}"',
            *(f"{k} = {json.dumps(v)}" for k, v in labels.get(name, {}).items()),
            f'labels = {{ cache_dir = "{device.labels["cache_dir"]}" }}',
            "",
        ]
    path.write_text("\n".join(lines))
    known = path.parent / "known_hosts"
    known.write_text("".join(server.known_hosts_line() for server, _ in boards.values()))
    return path


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "EDGEOPS_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
        "EDGEOPS_DISABLE_PLUGINS": ONNX_ONLY,
        "EDGEOPS_LEASES": str(tmp_path / "leases.sqlite"),
    }


def test_ship_measures_each_profile_on_its_board(tmp_path, make_sshd):
    devices = inventory(
        tmp_path / "devices.toml",
        {"pi": (make_sshd(), "rpi5"), "orin": (make_sshd(), "jetson-orin-nano")},
    )
    for model in (ULTRAFACE, str(REPO / "examples" / "segmenter")):
        result = run_cli(
            "ship", model, "-p", "rpi5", "-p", "jetson-orin-nano", "--devices", str(devices), *FAST, "--json",
            cwd=tmp_path, env=env_for(tmp_path),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads(result.stdout)
        by_device = {}
        for m in summary["measurements"]:
            assert m["status"] == "ok", m["error"]
            by_device.setdefault(m["device_id"], []).append(m)
            assert m["environment"]["runtime"] == "onnxruntime" and m["samples_ms"]
        assert {d: len(ms) for d, ms in by_device.items()} == {"pi": 4, "orin": 4}
        assert {p["profile_id"]: p["status"] for p in summary["plans"]} == {
            "rpi5": "supported", "jetson-orin-nano": "supported",
        }  # fmt: skip


def test_a_board_killed_mid_run_is_quarantined_and_the_run_finishes(tmp_path, make_sshd):
    pi, orin = make_sshd(), make_sshd()
    devices = inventory(
        tmp_path / "devices.toml", {"pi": (pi, "rpi5"), "orin": (orin, "jetson-orin-nano")}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "ship", ULTRAFACE, "-p", "rpi5", "-p", "jetson-orin-nano",
         "--devices", str(devices), "--rounds", "3", "--min-runs", "5", "--min-duration-s", "0.3", "--json",
         "--no-prune",  # every round of every variant, so the healthy board's count is known
         "--paced-fps", ""],  # no paced runs: this test is about a board that dies, not their cost
        cwd=tmp_path, env={**os.environ, **env_for(tmp_path)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 240
    journal = None
    while time.time() < deadline:
        found = list((tmp_path / ".edgeops" / "runs").glob("*/rounds.jsonl"))
        if (
            found
            and sum('"device_id":"orin"' in line for line in found[0].read_text().splitlines()) >= 2
        ):
            journal = found[0]
            break
        time.sleep(0.05)
    assert journal is not None, "the orin board never measured"
    orin.kill()
    out, err = process.communicate(timeout=300)
    # The run finishes on the other board, and says the orin failed (exit 4), not
    # that the model does not fit it.
    assert process.returncode == 4, err[-2000:]
    assert "jetson-orin-nano" in err.strip().splitlines()[-1] and "Traceback" not in err
    summary = json.loads(out)
    pi_ms = [m for m in summary["measurements"] if m["device_id"] == "pi"]
    orin_ms = [m for m in summary["measurements"] if m["device_id"] == "orin"]
    assert len(pi_ms) == 4 and all(m["status"] == "ok" and m["rounds"] == 3 for m in pi_ms)
    failed = [m for m in orin_ms if m["status"] != "ok"]
    assert failed and all(m["error"] for m in failed)
    assert any("quarantined" in m["error"] or "failed twice" in m["error"] for m in failed)
    # The rounds the orin measured before it died are kept in the run's journal.
    kept = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sum(1 for m in kept if m["device_id"] == "orin" and m["status"] == "ok") >= 2
    plans = {p["profile_id"]: p for p in summary["plans"]}
    assert plans["rpi5"]["status"] == "supported"
    orin_plan = plans["jetson-orin-nano"]
    assert orin_plan["status"] == "device_failed" and orin_plan["nearest_miss"] is None
    assert "device orin failed" in orin_plan["note"] and "quality floor" not in orin_plan["note"]


def intervals(book: LeaseBook, resource: str) -> list[tuple[float, float]]:
    spans, start = [], None
    for at, event, res, _holder in book.log():
        if res == resource and event == "acquire":
            start = at
        elif res == resource and event == "release" and start is not None:
            spans.append((start, at))
            start = None
    return spans


def overlap_s(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


@pytest.mark.parametrize("pinned", [False, True], ids=["shared-cpu", "pinned-apart"])
def test_boards_sharing_a_host_are_measured_at_once_only_when_pinned_apart(
    tmp_path, make_sshd, pinned
):
    labels = {"pi": {"host": "rack"}, "orin": {"host": "rack"}}
    if pinned:
        labels["pi"]["cpus"], labels["orin"]["cpus"] = "0", "1"
    devices = inventory(
        tmp_path / "devices.toml",
        {"pi": (make_sshd(), "rpi5"), "orin": (make_sshd(), "jetson-orin-nano")},
        **labels,
    )
    result = run_cli(
        "ship", ULTRAFACE, "-p", "rpi5", "-p", "jetson-orin-nano", "--devices", str(devices),
        "--rounds", "2", "--min-runs", "5", "--min-duration-s", "0.3", "--json",
        # No paced runs (two rates of 0.6 s per probe): the leases are what is looked at.
        "--paced-fps", "",
        cwd=tmp_path, env=env_for(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    book = LeaseBook(tmp_path / "leases.sqlite")
    together = overlap_s(intervals(book, "device:pi"), intervals(book, "device:orin"))
    if pinned:
        assert together > 0.5  # the two boards really ran at once
    else:
        assert together == 0.0
