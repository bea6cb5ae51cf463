"""A predicted Measurement for a profile with no device: the per-layer model with its interval."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from edgeops.plugin import DeviceProfile, Interval, Measurement, PeakMemory, Variant

from .graphs import read_network
from .latency import Engine, LayerArrays, latency_ms, peak_memory_mb
from .layers import Compression, Network
from .platforms import DATA, android_engine, apple_engine, facts

# Runtimes the calibration set does not hold figures for: their intervals are widened by
# this factor in log space and state no coverage (a GUESS, said in every such prediction).
UNCALIBRATED_WIDENING = 2.0
# The NPU variant (tflite:npu-<vendor>-<soc>-int8) is AOT-compiled by the vendor SDK, which
# cannot be installed here, so its prediction is attached to the int8-full variant on the
# `npu` unit: the same full-integer graph the AOT step would compile (README "Predictions").
NPU_NOTE = (
    "predicted; NPU compile not verified here: the int8-full graph on the npu unit stands "
    "for the AOT-compiled NPU variant (tflite:npu-<vendor>-<soc>-int8)"
)


@functools.cache
def fitted() -> dict[str, Any]:
    return json.loads((DATA / "fitted.json").read_text())


def calibration_devices(family: str) -> set[str]:
    groups = fitted()["families"].get(family, {}).get("training_groups", [])
    return {g.split(":", 1)[0] for g in groups}


def _gpu_vendor(device: str) -> str:
    entry = facts().get(device, {})
    return str(entry.get("gpu", "")).split(" ")[0] if isinstance(entry, dict) else ""


def compression(variant: Variant) -> Compression | None:
    """How the recipe stores weights and activations; None where the model has no basis."""
    recipe = variant.recipe
    name = recipe.name if recipe else ""
    steps = {s.op: s.params for s in recipe.steps} if recipe else {}
    if variant.format == "coreml":
        precision = (recipe.compute_precision if recipe else None) or "float16"
        if precision == "float32":
            return Compression(32, 0.0, 32, 32)
        bits: float = 16
        if "palettize" in steps:
            bits = float(steps["palettize"]["nbits"])
        elif "linear_quantize" in steps:
            bits = 4.0 if steps["linear_quantize"].get("dtype") == "int4" else 8.0
        sparsity = float(steps.get("prune", {}).get("target_sparsity", 0.0))
        act = 8 if "w8a8" in steps else 16
        return Compression(8.0 if act == 8 else bits, sparsity, act, 16)
    if variant.format in ("tflite", "onnx"):
        if name in ("int8-full", "int8-static"):
            return Compression(8, 0.0, 8, 32)
        if name == "int16x8":
            # TFLite runs it on reference kernels (606 ms vs 8.9 ms, conversion-notes.md).
            return None
        if name in ("fp16", "int8-dynamic"):
            return Compression(16 if name == "fp16" else 8, 0.0, 32, 32)
        return Compression(32, 0.0, 32, 32)
    return None


def engine_for(
    profile: DeviceProfile, variant: Variant, compute_unit: str
) -> tuple[Engine, bool] | None:
    """The engine and whether the runtime is in the calibration set."""
    if variant.format == "coreml" and profile.platform in ("ios", "macos"):
        return apple_engine(profile.chip or "", compute_unit)
    if variant.format in ("tflite", "onnx") and profile.platform in ("android", "linux"):
        engine = android_engine(profile.id, compute_unit)
        if engine is None:
            return None
        # Figures of the calibration set are TFLite on phones; ONNX Runtime is not in it.
        # XNNPACK is not the CPU kernels the family is fitted on: its held-out figures
        # (Pixel 3a, Raspberry Pi 4; README) fall outside the CPU family's intervals.
        calibrated = (
            variant.format == "tflite"
            and profile.platform == "android"
            and compute_unit != "xnnpack"
        )
        if engine.family == "nnapi":
            # NNAPI hands the graph to whatever the vendor driver offers (DSP, GPU, TPU):
            # figures from one phone say nothing of another's, so only those phones count.
            calibrated = calibrated and profile.id in calibration_devices("nnapi")
        if engine.family == "npu":
            # Fitted on Qualcomm AI Hub's Hexagon figures (Galaxy S23, S24): another SoC or
            # vendor (Tensor's TPU, MediaTek APU) is not covered by them.
            calibrated = calibrated and profile.id in set(
                fitted()["families"].get("npu", {}).get("training_devices", [])
            )
        if engine.family == "gpu":
            # Checked across GPUs of one vendor (Adreno 630 -> 640, held out); another
            # vendor's GPU (Mali) is not covered by that check.
            vendors = {_gpu_vendor(d) for d in calibration_devices("gpu")}
            calibrated = calibrated and _gpu_vendor(profile.id) in vendors
        return engine, calibrated
    return None


def predict(profile: DeviceProfile, variant: Variant, compute_unit: str) -> Measurement | None:
    if variant.status != "ok" or variant.path is None or variant.format not in profile.formats:
        return None
    found = engine_for(profile, variant, compute_unit)
    comp = compression(variant)
    if found is None or comp is None:
        return None
    engine, calibrated = found
    if engine.family == "npu" and comp.activation_bits != 8:
        return None  # the NPU variants are full-integer; a float graph is not what runs there
    base: dict[str, Any] = {
        "variant_id": variant.id,
        "device_id": f"predicted:{profile.id}",
        "profile_id": profile.id,
        "compute_unit": compute_unit,
        "method": "predicted",
    }
    if engine.reads_compressed and comp.activation_bits == 32:  # the Neural Engine
        return Measurement(
            **base,
            status="unsupported",
            error="an fp32 model runs on the GPU and CPU only (coremltools docs, typed-execution-example)",
        )
    net = read_network(variant.path, variant.format)
    if net is None or not net.layers:
        return None
    family = fitted()["families"].get(engine.family)
    if family is None:
        return None
    out = _measurement(base, net, engine, comp, family, calibrated)
    if engine.family == "npu":
        return out.model_copy(update={"environment": {**out.environment, "npu_variant": NPU_NOTE}})
    return out


def _measurement(
    base: dict[str, Any],
    net: Network,
    engine: Engine,
    comp: Compression,
    family: dict[str, Any],
    calibrated: bool,
) -> Measurement:
    p50 = latency_ms(LayerArrays.of(net), engine, comp, family["params"])
    q = float(family["q_log"])
    if calibrated:
        coverage: float | None = float(fitted()["coverage"])
        how = (
            f"90% split-conformal interval from {family['calibration_residuals']} leave-one-"
            "network-out residuals on published figures (edgeops_predict/data/fitted.json)"
        )
    else:
        q *= UNCALIBRATED_WIDENING
        coverage = None
        how = (
            f"uncalibrated: no published figure checks this runtime/engine here; the {engine.family} "
            f"family's interval widened x{UNCALIBRATED_WIDENING:g} (a guess), coverage not stated"
        )
    low, high = p50 * math.exp(-q), p50 * math.exp(q)
    peak_mb = peak_memory_mb(net, engine, comp)
    return Measurement(
        **base,
        status="ok",
        p50_ms=p50,
        # No run-to-run spread can be predicted; the selector's budget check takes the
        # interval's top, the cautious side.
        p90_ms=high,
        p50_interval=Interval(low_ms=low, high_ms=high, coverage=coverage, method=how),
        peak_mem=PeakMemory(
            raw_mb=round(peak_mb, 3),
            baseline_mb=None,
            over_baseline_mb=None,
            definition="predicted, not measured: resident weights as the engine reads them "
            "+ the largest layer's input and output tensors x 2",
        ),
        environment={
            "prediction": "per-layer model (edgeops_predict/latency.py): sum over layers of "
            "compute + memory time, plus per-layer and fixed overheads",
            "engine_family": engine.family,
            "engine_peak_macs_per_s": engine.peak_macs_per_s,
            "engine_basis": engine.basis,
            "constants": "FITTED on published figures (edgeops_predict/data/published.csv)",
            "calibrated": calibrated,
            "compression": comp.label,
            "activation_bits": comp.activation_bits,
            "layers": len(net.layers),
            "macs": net.macs,
            "params": net.params,
        },
    )


def adapt(predictions: list[Measurement], measurements: list[Measurement]) -> list[Measurement]:
    """Scale predictions by what the same device measured for other variants (HELP-style few-shot).

    Per compute unit and activation precision (variants that share kernels share their
    errors), the factor is the geometric mean of measured / predicted p50 over the
    variants both exist for; the interval then uses ``q_log_adapted`` (the residuals that
    correction leaves on the calibration set, fitted.json). A prediction whose variant was
    measured in that unit is dropped: the measurement replaces it.
    """
    measured = {(m.variant_id, m.compute_unit): m for m in measurements if m.p50_ms}
    pred = {(m.variant_id, m.compute_unit): m for m in predictions}

    def kernels(m: Measurement) -> tuple[str, object]:
        return m.compute_unit, m.environment.get("activation_bits")

    logs: dict[tuple[str, object], list[float]] = {}
    for key, m in measured.items():
        p = pred.get(key)
        if p is not None and p.p50_ms and m.p50_ms and p.status == "ok":
            logs.setdefault(kernels(p), []).append(math.log(m.p50_ms / p.p50_ms))
    out = []
    for key, p in pred.items():
        if key in measured:
            continue
        ratios = logs.get(kernels(p))
        if not ratios or p.status != "ok" or p.p50_ms is None:
            out.append(p)
            continue
        family = fitted()["families"].get(str(p.environment.get("engine_family")), {})
        factor = math.exp(sum(ratios) / len(ratios))
        q = float(family.get("q_log_adapted", family.get("q_log", 0.0)))
        p50 = p.p50_ms * factor
        low, high = p50 * math.exp(-q), p50 * math.exp(q)
        calibrated = p.p50_interval is not None and p.p50_interval.coverage is not None
        interval = Interval(
            low_ms=low,
            high_ms=high,
            coverage=fitted()["coverage"] if calibrated else None,
            method=f"adapted from {len(ratios)} measured variant(s) on this profile "
            f"(x{factor:.3g}); 90% split-conformal half-width exp(±{q:.3f})",
        )
        env = {**p.environment, "adapted_factor": factor, "adapted_from": len(ratios)}
        out.append(
            p.model_copy(
                update={"p50_ms": p50, "p90_ms": high, "p50_interval": interval, "environment": env}
            )
        )
    return out
