"""`edgeops ship` to a phone profile end to end, through a real adbd and a STAND-IN benchmark_model.

The stand-in (adb_testing.stand_in_benchmark_model) prints the real logcat
fixture; everything around it is the real command: inventory, leases,
scheduling, the measure hooks, merging and selection.
"""

from __future__ import annotations

from adb_testing import (
    LOGCAT_LOG,
    ship_json,
    stand_in_benchmark_model,
    stand_in_benchmark_model_with_outputs,
)


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


def test_ship_to_a_phone_scores_what_the_phone_returned_where_device(adbd, tmp_path):
    """The same ship with a stand-in that honours --input_layer_value_files and
    --output_filepath (the real TFLite runtime behind it): every measured unit's outputs
    come back from the "phone" once and are scored there."""
    stand_in = stand_in_benchmark_model_with_outputs(tmp_path / "tool")
    devices = tmp_path / "devices.toml"
    devices.write_text(
        "[[device]]\n"
        'name = "phone"\n'
        'transport = "adb"\n'
        f'address = "127.0.0.1:{adbd.port}"\n'
        f'key = "{tmp_path / "adbkey"}"\n'
        'profile = "pixel6"\n'
        'python = ""\n'
        f'labels = {{ remote_dir = "{tmp_path / "remote"}", benchmark_model = "{stand_in}" }}\n'
    )
    summary = ship_json(devices, "pixel6", tmp_path, "--rounds", "1")
    units = {m["compute_unit"]: m for m in summary["measurements"]}
    assert set(units) == {"cpu", "xnnpack", "gpu", "nnapi"}
    for m in units.values():
        assert m["device_quality"]["where"] == "device", m["environment"]
        assert m["device_quality"]["sample_count"] == 4
    # XNNPACK made the reference (the source .tflite on this host's runtime): the same
    # kernels return the same numbers. The stand-in runs the others on TFLite's builtin
    # kernels, whose uint8 arithmetic lands at 27.5 dB here, under the generic floor of
    # 30 dB: those units fail on this "phone" with the reason, and selection keeps XNNPACK.
    assert units["xnnpack"]["status"] == "ok"
    for unit in ("cpu", "gpu", "nnapi"):
        assert units[unit]["status"] == "error"
        assert units[unit]["error"].startswith("device outputs differ from host: snr_db")
    (plan,) = summary["plans"]
    assert plan["status"] == "supported" and plan["choices"][0]["compute_unit"] == "xnnpack"
