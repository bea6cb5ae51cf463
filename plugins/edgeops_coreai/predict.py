"""Predicted Core AI latency and peak memory for an Apple profile with no device attached.

Until a Mac or iPhone on OS 27 measures them, Core AI variants are predicted with
the method, constants and chip facts the Core ML backend uses (edgeops_apple/roofline.py),
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

from edgeops.plugin import DeviceProfile, Measurement, Variant, builtin_profile_dir
from edgeops_apple import roofline

from . import convert

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
    f"p90 = p50 x {roofline.P90_OVER_P50}; peak = resident weights x {roofline.WEIGHT_COPIES} "
    f"+ largest layer's tensors x {roofline.ACTIVATION_COPIES}"
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
    if profile.platform not in ("ios", "macos"):
        return None
    if variant.status != "ok" or not variant.macs:
        return None
    chip = chips().get(profile.chip or "")
    if chip is None or variant.size_bytes is None:
        return None
    peak_tops, peak_basis = ne_peak_tops(chip)
    if peak_tops is None:
        return None
    base = roofline.prediction_fields(profile, variant, compute_unit)
    if compute_unit not in COMPUTE_UNITS:
        return Measurement(**base, status="unsupported", error=f"no Core AI unit {compute_unit!r}")
    info = convert.BUILD_INFO.read(variant.path) if variant.path is not None else {}
    fp16 = bool(info.get("fp16"))
    ne_ops = peak_tops * 1e12 * roofline.ANE_EFFICIENCY
    if chip.get("w8a8_accelerated"):
        ne_ops /= 2  # the vendor figure counts int8 there (device_facts.md §1 caveat)
    gpu_ops = ne_ops * roofline.GPU_SHARE_OF_NE
    engines = {
        "cpu_only": [("cpu", gpu_ops * roofline.CPU_SHARE_OF_GPU)],
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
    best: tuple[float, str, str, int] | None = None
    for name, ops in engines:
        weights_b = _resident_weight_bytes(variant, name, fp16)
        p50, bound = roofline.roofline_ms(variant.macs, ops, weights_b, profile.platform)
        if best is None or p50 < best[0]:
            best = (p50, name, bound, weights_b)
    assert best is not None
    p50_ms, engine, bound, weights_b = best
    inputs_elements = sum(_n(i.shape) for i in variant.inputs)
    layer = int(
        info.get("largest_layer_elements") or roofline.INPUT_TO_LAYER_GUESS * inputs_elements
    )
    activation_bytes = 2 if fp16 and engine != "cpu" else 4
    return roofline.predicted_measurement(
        base,
        p50_ms,
        weights_b,
        layer,
        activation_bytes,
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
            f"{roofline.ANE_EFFICIENCY:.3f} from MobileNetV2 at 0.48 ms on A16 "
            "(device_facts.md §1, T7b)",
            "guesses": f"GPU = NE x {roofline.GPU_SHARE_OF_NE:.3f}; "
            f"CPU = GPU x {roofline.CPU_SHARE_OF_GPU}; "
            f"bandwidth {roofline.MEMORY_BANDWIDTH_GBPS[profile.platform]:g} GB/s; compressed "
            "weights resident on the Neural Engine only; no source read for these",
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
