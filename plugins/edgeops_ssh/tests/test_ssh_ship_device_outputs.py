"""`ship` against a real sshd board scores each measured variant's outputs on the board
(``where: device``); a board whose runtime returns wrong numbers fails the variant there."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from edgeops import api
from edgeops_ssh.testing_sshd import Sshd

pytestmark = pytest.mark.slow

# The board's onnxruntime returns every output negated, as a faulty accelerator may:
# the probe runs unchanged, fast and "ok", and only its outputs are wrong.
CORRUPTING_SITECUSTOMIZE = """
import onnxruntime.capi.onnxruntime_inference_collection as c

_run = c.InferenceSession.run


def _negated(self, *args, **kwargs):
    return [-a for a in _run(self, *args, **kwargs)]


c.InferenceSession.run = _negated
"""


def board_python(folder: Path, corrupt: bool) -> str:
    """The board's python: this environment's, its onnxruntime corrupted when asked."""
    if not corrupt:
        return sys.executable
    site = folder / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(CORRUPTING_SITECUSTOMIZE)
    wrapper = folder / "board-python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper)


def ship_to_board(sshd: Sshd, tmp_path: Path, corrupt: bool) -> dict:
    from edgeops.testing import write_matmul_onnx

    model = write_matmul_onnx(tmp_path / "tiny.onnx", 16, 8)
    device = sshd.device()
    inventory = tmp_path / "devices.toml"
    inventory.write_text(
        "[[device]]\n"
        'name = "board"\ntransport = "ssh"\nprofile = "host"\n'
        f'address = "{device.address}"\nuser = "{device.user}"\nkey = "{device.key_path}"\n'
        f'python = "{board_python(tmp_path, corrupt)}"\n'
        f'cache_dir = "{device.labels["cache_dir"]}"\n'
    )
    api.ship(
        model, ["host"], out=tmp_path / "bundle", devices=inventory,
        workspace=tmp_path / "ws", rounds=1, min_runs=5, min_duration_s=0.1,
        jobs=1, progress=False, prune=False,
    )  # fmt: skip
    return json.loads((tmp_path / "bundle" / "results.json").read_text())


@pytest.fixture
def onnx_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,coreml,executorch")


def test_ship_records_the_boards_outputs_scored_where_device(
    onnx_only, sshd, ssh_known_hosts, tmp_path
):
    results = ship_to_board(sshd, tmp_path, corrupt=False)
    measured = [m for m in results["measurements"] if m["device_id"] == "board"]
    assert measured and all(m["status"] == "ok" for m in measured), measured
    for m in measured:
        quality = m["device_quality"]
        assert quality["where"] == "device" and quality["sample_count"] >= 1
        assert "snr_db" in quality["metrics"]
    # The gallery shows what the board returned beside the host's reference.
    gallery = json.loads((tmp_path / "bundle" / "gallery" / "gallery.json").read_text())
    on_board = [s for v in gallery["variants"] for s in v["on_device"]]
    assert {s["device_id"] for s in on_board} == {"board"}
    assert {s["index"] for s in on_board} == {0, 1, 2, 3}  # the first k samples
    assert "On the device" in (tmp_path / "bundle" / "report.html").read_text()


def test_ship_fails_a_variant_whose_outputs_on_the_board_differ_from_the_host(
    onnx_only, sshd, ssh_known_hosts, tmp_path
):
    results = ship_to_board(sshd, tmp_path, corrupt=True)
    measured = [m for m in results["measurements"] if m["device_id"] == "board"]
    assert measured
    for m in measured:
        assert m["status"] != "ok"
        assert m["error"].startswith("device outputs differ from host"), m["error"]
        assert m["device_quality"]["where"] == "device"
    plan = results["plans"][0] if isinstance(results["plans"], list) else results["plans"]["host"]
    assert not plan["choices"]
    reasons = [r for rejection in plan["rejected"] for r in rejection["reasons"]]
    assert reasons and all("device outputs differ from host" in r for r in reasons), reasons
