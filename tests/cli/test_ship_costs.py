"""`edgeops ship` of an image-to-image model: SSIM, PSNR, CPU share, paced fps, loads, MACs."""

import json

import pytest

from factories import run_cli, tiny_onnx

pytestmark = pytest.mark.slow
ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}


def test_ship_of_an_image_to_image_model_reports_what_it_costs(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", size=32)
    args = (
        "ship", str(model), "--task", "image-to-image", "--profile", "host", "--rounds", "1",
        "--min-runs", "5", "--min-duration-s", "0.1", "--paced-fps", "20,40",
        "--paced-duration-s", "0.5", "--out", "bundle",
    )  # fmt: skip
    result = run_cli(*args, "--json", cwd=tmp_path, env=ONNX_ONLY, timeout_s=900)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "bundle" / "results.json").read_text())
    variants = {v["id"]: v for v in results["variants"] if v["status"] == "ok"}
    assert variants
    for v in variants.values():
        assert {"ssim", "psnr_db"} <= set(v["quality"]["metrics"])
        assert v["macs"] == 360 * 32 * 32  # tests/test_onnx_work.py counts it by hand
    measured = [m for m in results["measurements"] if m["status"] == "ok"]
    assert {m["variant_id"] for m in measured} == set(variants)
    for m in measured:
        assert m["cpu"]["percent_of_one_core"] > 0 and m["cpu"]["cores"] >= 1
        assert m["throughput_fps"] > 0
        assert [p["target_fps"] for p in m["paced"]] == [20.0, 40.0]
        assert all(p["frames"] > 0 and p["achieved_fps"] > 0 for p in m["paced"])
        assert m["load_ms"] > 0 and m["warm_load_ms"] > 0
        assert m["cold_load"].startswith("file cache dropped")
    # The fp32 variant is the reference model itself.
    fp32 = next(v for v in variants.values() if v["recipe"]["name"] == "fp32")
    assert fp32["quality"]["metrics"]["ssim"] == pytest.approx(1.0)
    # Wide enough that rich does not wrap the table's title.
    human = run_cli(*args, cwd=tmp_path, env={**ONNX_ONLY, "COLUMNS": "250"}, timeout_s=900)
    assert "cost per variant" in human.stdout and "fps @20" in human.stdout
    report = (tmp_path / "bundle" / "report.md").read_text()
    assert "host: cost per variant" in report and "| ssim | psnr_db |" in report
