"""Predicted Core AI latency and peak memory for an Apple profile with no device attached.

Until a Mac or iPhone on OS 27 measures them, Core AI variants are predicted with
the method and chip facts the Core ML backend uses (edgeops_coreml/predict.py),
read from the same files (device_profiles/chips/*.toml), so a Core AI and a Core ML
variant of one recipe are predicted alike::

    p50 = max(2 × MACs / (engine ops/s), weight bytes read / memory bandwidth)
    p90 = p50 × P90_OVER_P50
    peak memory = resident weights × WEIGHT_COPIES + largest layer's tensors × ACTIVATION_COPIES

SOURCED (as for Core ML; device_facts.md §1): the Neural Engine peak of the chip
file, halved where the vendor figure counts int8; the efficiency from MobileNetV2
(300 M MACs, Sandler et al. 2018) at 0.48 ms fp16 on an A16 (17 TOPS).

GUESSES (no source read; replace with Mac-host measurements): GPU = 1/6 of the
Neural Engine, CPU = 0.4 of the GPU; 30 GB/s (iPhone) and 60 GB/s (Mac) memory
bandwidth; p90/p50 = 1.1; weight copies 1.5, activation copies 2. For Core AI also:
the Neural Engine holds compressed weights and expands them as it runs (Core ML
does from iOS 17, coremltools docs opt-palettization-perf; Core AI's own docs read
here say nothing either way), other units hold them expanded; a variant without an
fp16 step computes in fp32 (its asset's compute types), which the Neural Engine
cannot (it computes fp16, hollance/neural-engine docs/16-bit.md), so that variant is
``unsupported`` on ``cpu_and_ne`` and runs on the GPU under ``all``.

A chip whose file has no Neural Engine figure (A18 Pro, A19, A19 Pro, M5: no figure
read from a source) borrows its predecessor's, a GUESS named in ``PEAK_FROM`` and
written into each prediction (the Core ML backend does the same for A18 Pro); a
chip with neither gets no prediction.
"""

from __future__ import annotations

import functools
import tomllib
from typing import Any

from edgeops.plugin import DeviceProfile, Measurement, PeakMemory, Variant, builtin_profile_dir

from . import convert
from .recipes import FORMAT

MOBILENETV2_MACS = 300e6
MOBILENETV2_A16_FP16_MS = 0.48
A16_NE_TOPS = 17.0
ANE_EFFICIENCY = 2 * MOBILENETV2_MACS / (MOBILENETV2_A16_FP16_MS * 1e-3) / (A16_NE_TOPS * 1e12)
GPU_SHARE_OF_NE = 1 / 6
CPU_SHARE_OF_GPU = 0.4
MEMORY_BANDWIDTH_GBPS = {"ios": 30.0, "macos": 60.0}
P90_OVER_P50 = 1.1
WEIGHT_COPIES = 1.5
ACTIVATION_COPIES = 2.0
# Chip id → (chip whose Neural Engine figure is borrowed, why): GUESSES, see the docstring.
PEAK_FROM = {
    "A18 Pro": ("A18", "guess: same Neural Engine generation as A18 (no figure in source)"),
    "A19": ("A18", "guess: at least A18's 16-core Neural Engine (Apple gave no A19 figure)"),
    "A19 Pro": ("A18", "guess: at least A18's 16-core Neural Engine (Apple gave no figure)"),
    "M5": ("M4", "guess: at least M4's 16-core Neural Engine (no reliable M5 figure read)"),
}
COMPUTE_UNITS = ("cpu_only", "cpu_and_gpu", "cpu_and_ne", "all")
METHOD = (
    "roofline as for Core ML: p50 = max(2 x MACs / engine ops/s, weight bytes / bandwidth); "
    f"p90 = p50 x {P90_OVER_P50}; peak = resident weights x {WEIGHT_COPIES} + largest layer's "
    f"tensors x {ACTIVATION_COPIES}"
)


@functools.cache
def chips() -> dict[str, dict[str, Any]]:
    """The chip files by id, read as plain tables: only the facts used here are needed."""
    out = {}
    for file in sorted((builtin_profile_dir() / "chips").glob("*.toml")):
        table = tomllib.loads(file.read_text())
        out[str(table["id"])] = table
    return out


def predict(profile: DeviceProfile, variant: Variant, compute_unit: str) -> Measurement | None:
    if profile.platform not in ("ios", "macos") or FORMAT not in profile.formats:
        return None
    if variant.format != FORMAT or variant.status != "ok" or not variant.macs:
        return None
    chip = chips().get(profile.chip or "")
    if chip is None or variant.size_bytes is None:
        return None
    peak_tops, peak_basis = ne_peak_tops(chip)
    if peak_tops is None:
        return None
    base: dict[str, Any] = {
        "variant_id": variant.id,
        "device_id": f"predicted:{profile.id}",
        "profile_id": profile.id,
        "compute_unit": compute_unit,
        "method": "predicted",
    }
    if compute_unit not in COMPUTE_UNITS:
        return Measurement(**base, status="unsupported", error=f"no Core AI unit {compute_unit!r}")
    info = convert.BUILD_INFO.read(variant.path) if variant.path is not None else {}
    fp16 = bool(info.get("fp16"))
    ne_ops = peak_tops * 1e12 * ANE_EFFICIENCY
    if chip.get("w8a8_accelerated"):
        ne_ops /= 2  # the vendor figure counts int8 there (device_facts.md §1 caveat)
    gpu_ops = ne_ops * GPU_SHARE_OF_NE
    engines = {
        "cpu_only": [("cpu", gpu_ops * CPU_SHARE_OF_GPU)],
        "cpu_and_gpu": [("gpu", gpu_ops)],
        "cpu_and_ne": [("ne", ne_ops)],
        "all": [("ne", ne_ops), ("gpu", gpu_ops)],
    }[compute_unit]
    if not fp16:
        engines = [e for e in engines if e[0] != "ne"]
        if not engines:
            return Measurement(
                **base,
                status="unsupported",
                error="an fp32-compute Core AI variant cannot run on the Neural Engine (fp16 "
                "only, hollance/neural-engine docs/16-bit.md); see its cpu_and_gpu prediction",
            )
    bandwidth = MEMORY_BANDWIDTH_GBPS[profile.platform] * 1e9
    best: tuple[float, str, str, int] | None = None
    for name, ops in engines:
        weights_b = _resident_weight_bytes(variant, name, fp16)
        compute_ms = 2 * variant.macs / ops * 1e3
        memory_ms = weights_b / bandwidth * 1e3
        p50 = max(compute_ms, memory_ms)
        if best is None or p50 < best[0]:
            best = (p50, name, "compute" if compute_ms >= memory_ms else "memory", weights_b)
    assert best is not None
    p50_ms, engine, bound, weights_b = best
    layer = int(info.get("largest_layer_elements") or 8 * sum(_n(i.shape) for i in variant.inputs))
    activation_bytes = 2 if fp16 and engine != "cpu" else 4
    peak_mb = (WEIGHT_COPIES * weights_b + ACTIVATION_COPIES * layer * activation_bytes) / 2**20
    return Measurement(
        **base,
        status="ok",
        p50_ms=p50_ms,
        p90_ms=p50_ms * P90_OVER_P50,
        peak_mem=PeakMemory(
            raw_mb=round(peak_mb, 3),
            baseline_mb=None,
            over_baseline_mb=None,
            definition=f"predicted, not measured: resident weights x {WEIGHT_COPIES} + "
            f"largest layer's input and output tensors x {ACTIVATION_COPIES}",
        ),
        environment={
            "prediction": METHOD,
            "runtime": "Core AI",
            "chip": chip["id"],
            "ne_peak_tops": peak_tops,
            "ne_peak_basis": peak_basis,
            "engine": engine,
            "bound": bound,
            "fp16": fp16,
            "macs": variant.macs,
            "resident_weight_bytes": weights_b,
            "largest_layer_elements": layer,
            "sources": "Neural Engine peak: chips/*.toml (device_facts.md §1); efficiency "
            f"{ANE_EFFICIENCY:.3f} from MobileNetV2 at 0.48 ms on A16 (device_facts.md §1, T7b)",
            "guesses": f"GPU = NE x {GPU_SHARE_OF_NE:.3f}; CPU = GPU x {CPU_SHARE_OF_GPU}; "
            f"bandwidth {MEMORY_BANDWIDTH_GBPS[profile.platform]:g} GB/s; compressed weights "
            "resident on the Neural Engine only; no source read for these",
        },
    )


def ne_peak_tops(chip: dict[str, Any]) -> tuple[float | None, str]:
    """The chip file's Neural Engine figure, else its predecessor's (PEAK_FROM), and why."""
    if chip.get("ane_peak_tops"):
        return float(chip["ane_peak_tops"]), "chip file"
    borrowed = PEAK_FROM.get(str(chip["id"]))
    if borrowed is None:
        return None, "no figure"
    sibling = chips().get(borrowed[0], {})
    tops = sibling.get("ane_peak_tops")
    return (float(tops), borrowed[1]) if tops else (None, "no figure")


def _resident_weight_bytes(variant: Variant, engine: str, fp16: bool) -> int:
    assert variant.size_bytes is not None
    if engine == "ne" or not variant.params:
        return variant.size_bytes
    return variant.params * (2 if fp16 and engine == "gpu" else 4)


def _n(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    return total
