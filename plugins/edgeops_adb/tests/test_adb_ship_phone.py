"""`edgeops ship` to a phone profile end to end, through a real adbd and a STAND-IN benchmark_model.

The stand-in (adb_testing.stand_in_benchmark_model) prints the real logcat
fixture; everything around it is the real command: inventory, leases,
scheduling, the measure hooks, merging and selection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from adb_testing import MODELS, stand_in_benchmark_model

LOGCAT_LOG = "tflite_benchmark_apk_logcat_nnapi_tensorflow-56301.txt"


def test_ship_to_a_phone_profile_measures_every_compute_unit(adbd, tmp_path):
    stand_in = stand_in_benchmark_model(tmp_path / "tool", LOGCAT_LOG)
    devices = tmp_path / "devices.toml"
    devices.write_text(
        "[[device]]\n"
        'name = "phone"\n'
        'transport = "adb"\n'
        f'address = "127.0.0.1:{adbd.port}"\n'
        f'key = "{tmp_path / "adbkey"}"\n'
        'profile = "pixel6"\n'
        'python = ""\n'  # a phone: no Python there
        f'labels = {{ remote_dir = "{tmp_path / "remote"}", benchmark_model = "{stand_in}" }}\n'
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "edgeops", "ship",
            str(MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"), "-p", "pixel6",
            "--devices", str(devices), "--rounds", "2", "--min-runs", "5", "--json",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "EDGEOPS_LEASES": str(tmp_path / "leases.sqlite"),
             "EDGEOPS_DISABLE_PLUGINS": "coreml"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    units = {m["compute_unit"]: m for m in summary["measurements"]}
    assert set(units) == {"cpu", "xnnpack", "gpu", "nnapi"}
    for m in units.values():
        assert m["status"] == "ok" and m["p50_ms"] == 12.1676, m["error"]
        assert m["environment"]["tool"] == "tflite-benchmark_model"
        assert m["environment"]["thermal_state"] == "unknown"
    assert [(p["profile_id"], p["status"]) for p in summary["plans"]] == [("pixel6", "supported")]
