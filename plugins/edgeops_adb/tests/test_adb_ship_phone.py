"""`edgeops ship` to a phone profile end to end, through a real adbd and a STAND-IN benchmark_model.

The stand-in (adb_testing.stand_in_benchmark_model) prints the real logcat
fixture; everything around it is the real command: inventory, leases,
scheduling, the measure hooks, merging and selection.
"""

from __future__ import annotations

from adb_testing import LOGCAT_LOG, ship_json, stand_in_benchmark_model


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
    summary = ship_json(devices, "pixel6", tmp_path, "--rounds", "2")
    units = {m["compute_unit"]: m for m in summary["measurements"]}
    assert set(units) == {"cpu", "xnnpack", "gpu", "nnapi"}
    for m in units.values():
        assert m["status"] == "ok" and m["p50_ms"] == 12.1676, m["error"]
        assert m["environment"]["tool"] == "tflite-benchmark_model"
        assert m["environment"]["thermal_state"] == "unknown"
    assert [(p["profile_id"], p["status"]) for p in summary["plans"]] == [("pixel6", "supported")]
