"""Predictions for Apple profiles with no device: the method, the A11 rule, and the plans they make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeops.devices.profiles import load_profiles
from edgeops.files import size_bytes
from edgeops.models import Quality, SelectionPolicy
from edgeops.selection import edgeops_select
from edgeops_coreml import predict
from edgeops_coreml.chips import COMPUTE_UNITS, UNIT_REQUIRES

TIERS = ("iphone15pro", "iphone12", "iphonex", "iphonese2")


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


@pytest.fixture(scope="module")
def variants(make_variant, tiny_artifact):
    """fp16 (the base), fp32 and two compressions, with ids and sizes as the pipeline sets them."""
    made = {"fp16": tiny_artifact}
    for name in ("fp32", "int8-linear", "palettize-kmeans-4"):
        made[name] = make_variant(name)
    quality = Quality(metrics={"snr_db": 40.0}, higher_is_better={"snr_db": True}, sample_count=4)
    return {
        name: v.model_copy(
            update={"id": name, "size_bytes": size_bytes(Path(v.path)), "quality": quality}
        )
        for name, v in made.items()
    }


def _all(profile, variants):
    return [
        m
        for v in variants.values()
        for cu in profile.compute_units
        if (m := predict.predict(profile, v, cu)) is not None
    ]


def test_a_prediction_is_labelled_and_says_how_it_was_made(profiles, variants):
    m = predict.predict(profiles["iphone12"], variants["fp16"], "cpu_and_ne")
    assert m is not None and m.method == "predicted" and m.status == "ok"
    assert m.p50_ms is not None and m.p90_ms is not None and m.p50_ms < m.p90_ms
    assert m.peak_mem is not None and m.peak_mem.definition.startswith("predicted, not measured")
    env = m.environment
    assert env["prediction"].startswith("roofline")
    assert "device_facts.md" in env["sources"] and "no source read" in env["guesses"]
    assert env["engine"] == "ne" and env["chip"] == "A14" and env["macs"] == variants["fp16"].macs


def test_never_predicts_a_compute_unit_the_chip_cannot_use(profiles, variants):
    # A profile file that wrongly lists the Neural Engine on an A11 still gets no NE number.
    wrong = profiles["iphonex"].model_copy(update={"compute_units": COMPUTE_UNITS})
    for cu in ("cpu_and_ne", "all"):
        m = predict.predict(wrong, variants["fp16"], cu)
        assert m is not None and m.status == "unsupported" and "A11" in (m.error or "")
    gpu = predict.predict(wrong, variants["fp16"], "cpu_and_gpu")
    assert gpu is not None and gpu.status == "ok"


def test_fp32_is_not_predicted_on_the_neural_engine(profiles, variants):
    m = predict.predict(profiles["iphone15pro"], variants["fp32"], "cpu_and_ne")
    assert m is not None and m.status == "unsupported" and "GPU and CPU only" in (m.error or "")


def test_no_prediction_without_a_basis(profiles, variants):
    assert predict.predict(profiles["host"], variants["fp16"], "cpu") is None
    no_macs = variants["fp16"].model_copy(update={"macs": None})
    assert predict.predict(profiles["iphone12"], no_macs, "cpu_and_ne") is None


def test_engines_and_chips_order_as_the_facts_say(profiles, variants):
    fp16 = variants["fp16"]

    def p50(pid, cu):
        m = predict.predict(profiles[pid], fp16, cu)
        assert m is not None and m.p50_ms is not None
        return m.p50_ms

    for pid in ("iphone12", "iphonese2", "iphone15pro"):
        assert p50(pid, "cpu_and_ne") < p50(pid, "cpu_and_gpu") < p50(pid, "cpu_only")
    assert p50("iphone15pro", "cpu_and_ne") < p50("iphone12", "cpu_and_ne")
    assert p50("iphone12", "cpu_and_ne") < p50("iphonese2", "cpu_and_ne")
    # A17 Pro's 35 TOPS counts int8: fp16 is about A16's, not twice (device_facts.md §1).
    a16 = p50("iphone14pro", "cpu_and_ne")
    assert p50("iphone15pro", "cpu_and_ne") == pytest.approx(a16, rel=0.05)
    # Apple: Core ML on A12 is 9x faster than on A11.
    assert p50("iphonex", "cpu_and_gpu") == pytest.approx(9 * p50("iphonexs", "cpu_and_ne"))


def test_compressed_weights_stay_compressed_only_on_the_neural_engine_from_ios17(
    profiles, variants
):
    pal, fp16 = variants["palettize-kmeans-4"], variants["fp16"]
    phone = profiles["iphone12"]

    def ok(variant, cu):
        m = predict.predict(phone, variant, cu)
        assert m is not None and m.peak_mem_mb is not None
        return m

    assert ok(pal, "cpu_and_ne").environment["resident_weight_bytes"] == pal.size_bytes
    # CPU and GPU hold decompressed weights (fp32 on the CPU, fp16 on the GPU).
    assert ok(pal, "cpu_and_gpu").environment["resident_weight_bytes"] == 2 * pal.params
    assert ok(pal, "cpu_only").peak_mem_mb == pytest.approx(ok(fp16, "cpu_only").peak_mem_mb)
    assert ok(pal, "cpu_and_ne").peak_mem_mb < ok(fp16, "cpu_and_ne").peak_mem_mb


def test_a_tight_memory_limit_gets_a_memory_safe_plan(profiles, variants):
    """An iPhone SE whose limit is lowered to where only compressed weights on the NE fit."""
    se = profiles["iphonese2"]
    predicted = _all(se, variants)
    mem = {(m.variant_id, m.compute_unit): m.peak_mem_mb for m in predicted if m.status == "ok"}
    fits = mem[("palettize-kmeans-4", "cpu_and_ne")]
    too_big = min(mem[("fp16", "cpu_and_ne")], mem[("fp16", "cpu_and_gpu")])
    assert fits < too_big
    # A limit whose allowed share lies between the two: nothing decompressed fits.
    cap_mb = (fits + too_big) / 2
    tight = se.model_copy(update={"app_memory_limit_mb": 1})
    policy = SelectionPolicy(
        memory_safety_factor=cap_mb, quality={"metric": "snr_db", "floor": 20.0}
    )
    plan = edgeops_select(
        profile=tight, variants=list(variants.values()), measurements=predicted, policy=policy
    )
    assert plan.status == "supported" and plan.method == "predicted"
    assert all(c.peak_mem_mb <= cap_mb for c in plan.choices)
    assert {c.variant_name for c in plan.choices} <= {
        "coreml:palettize-kmeans-4",
        "coreml:int8-linear",
    }
    rejected = {(r.variant_name, r.compute_unit): r.reasons for r in plan.rejected}
    assert "peak memory" in rejected[("coreml", "cpu_only")][0]


# --------------------------------------------------------------------------- end to end

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(), nn.Conv2d(64, 4, 1),
        ).eval()
    """
)
CONFIG = textwrap.dedent(
    """
    [model]
    name = "tiers"
    source = "net.py:build"
    task = "segmentation"
    recipes = ["fp16", "fp32", "int8-linear", "palettize-kmeans-4"]
    sample_count = 4

    [[model.inputs]]
    name = "image"
    shape = [1, 3, 32, 32]

    [model.quality]
    metric = "snr_db"
    floor = 20.0
    """
)


@pytest.mark.slow
def test_ship_across_iphone_tiers_with_no_device_gives_predicted_plans(tmp_path):
    (tmp_path / "net.py").write_text(FACTORY)
    (tmp_path / "edgeops.toml").write_text(CONFIG)
    profile_args = [arg for pid in TIERS for arg in ("--profile", pid)]
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "ship", "edgeops.toml", *profile_args, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EDGEOPS_DISABLE_PLUGINS": "tflite,executorch"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    plans = {p["profile_id"]: p for p in summary["plans"]}
    assert set(plans) == set(TIERS)
    for pid, plan in plans.items():
        assert plan["status"] == "supported" and plan["method"] == "predicted", pid
        assert all(c["method"] == "predicted" for c in plan["choices"])
    # iPhone X: CPU/GPU only, never a plan or a prediction that needs the Neural Engine.
    assert all("ane" not in c["requires"] for c in plans["iphonex"]["choices"])
    assert plans["iphonex"]["choices"][0]["compute_unit"] == "cpu_and_gpu"
    iphonex_units = {
        m["compute_unit"] for m in summary["measurements"] if m["profile_id"] == "iphonex"
    }
    assert not any("ane" in UNIT_REQUIRES[cu] for cu in iphonex_units)
    # A12 and later: the Neural Engine wins, with a CPU fallback.
    for pid in ("iphone15pro", "iphone12", "iphonese2"):
        choices = plans[pid]["choices"]
        assert choices[0]["requires"] == ["ane"], pid
        assert choices[-1]["requires"] == [], pid
    assert {m["method"] for m in summary["measurements"]} == {"predicted"}
    manifest = json.loads((tmp_path / summary["bundle"] / "manifest.json").read_text())
    for plan in manifest["profiles"].values():
        assert {c["method"] for c in plan["choices"]} == {"predicted"}
    report = (tmp_path / summary["bundle"] / "report.md").read_text()
    assert "iphonex: supported (predicted)" in report
