"""Predicted Core ML latency and peak memory for an Apple profile with no device attached.

The method is a roofline with an efficiency factor, per compute unit::

    p50 = max(2 × MACs / (peak ops/s × efficiency), weight bytes read / memory bandwidth)
    p90 = p50 × P90_OVER_P50
    peak memory = resident weights × WEIGHT_COPIES + largest layer's tensors × ACTIVATION_COPIES

Which engine a compute unit runs on, and at what precision:

- ``cpu_and_ne`` runs on the Neural Engine in fp16 (int8 activations for a W8A8
  variant on a chip that accelerates them); ``all`` takes the faster of the Neural
  Engine and the GPU; ``cpu_and_gpu`` the GPU in fp16; ``cpu_only`` the CPU, counted
  in fp32 (hollance/neural-engine docs/16-bit.md: Core ML's CPU path computes and
  stores intermediates in float32; since iOS 14 it may use float16, so fp32 is the
  memory-safe side).
- An fp32-precision variant never runs on the Neural Engine (coremltools docs,
  typed-execution-example: a float 32 typed model "will execute on a combination of
  the GPU and CPU"), so it is reported unsupported for ``cpu_and_ne`` and ``all``.
- A unit the chip cannot use (A11: its Neural Engine is closed to Core ML,
  device_facts.md §1) is reported unsupported, never predicted.

Where the constants come from. SOURCED:

- Neural Engine peak: the chip file's vendor figure (chips/*.toml, device_facts.md §1),
  halved on chips that accelerate W8A8, whose figure counts int8 (device_facts.md §1
  caveat: A16 17 TOPS → A17 Pro 35 TOPS, yet MobileNetV2 fp16 is 0.48 vs 0.49 ms).
- ANE_EFFICIENCY ≈ 0.074: MobileNetV2 (300 M multiply-adds, Sandler et al. 2018,
  "MobileNetV2", Table 6) runs fp16 in 0.48 ms on an iPhone 14 Pro (A16, 17 TOPS)
  (device_facts.md §1, latency table T7b): 0.6 G ops / 0.48 ms / 17 T ops/s.
- The A11's best Core ML engine (its GPU): Apple's claim that Core ML on A12 is 9×
  faster than on A11 (device_facts.md §1), i.e. A12's Neural Engine rate / 9.
- Decompression: compressed weights are expanded to fp16 ahead of running on iOS 16
  (coremltools docs, opt-whats-new: "ahead-of-runtime weight decompression to float16");
  from iOS 17 they can be decompressed "just in time", "more likely" on the Neural
  Engine (coremltools docs, palettization-overview, opt-palettization-perf). So only a
  Neural Engine unit on a device whose newest iOS is 17+ is credited with reading and
  holding the compressed bytes; every other unit holds and reads decompressed weights.

GUESSES (no source read here; replace them with Mac-host measurements):

- GPU_SHARE_OF_NE: a chip's GPU reaches 1/6 of its Neural Engine's effective fp16 rate.
- CPU_SHARE_OF_GPU: the CPU reaches 0.4 of the GPU's rate.
- MEMORY_BANDWIDTH_GBPS: 30 GB/s on iPhones, 60 GB/s on Macs (LPDDR4X/5-class figures).
- P90_OVER_P50 = 1.1, WEIGHT_COPIES = 1.5 (the loaded weights plus Core ML's
  specialised copy during load), ACTIVATION_COPIES = 2 (a layer's inputs and outputs
  alive with the next layer's buffer).

The constants shared with the Core AI backend (ANE_EFFICIENCY, the guesses, the
copies) and the roofline itself live in edgeops_apple/roofline.py. All of this is written
into each prediction's ``environment`` so a reader of results.json sees how a
number was made. Load time is not predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeops.plugin import DeviceProfile, Measurement, Variant
from edgeops_apple import roofline

from . import convert
from .chips import Chip, chip_of, load_chips, newest_ios, usable_compute_units
from .steps import W8A8

# --- sourced (see the module docstring; the shared constants: edgeops_apple/roofline.py)
A12_OVER_A11_SPEEDUP = 9.0
ON_THE_FLY_DECOMPRESSION_IOS = 17
# Chips whose file has no Neural Engine figure (device_facts.md §1 gives none for them):
# chip id → (chip whose figure is used, factor, why).
PEAK_FROM = {
    "A13": ("A12", 1.2, "Apple: A13's Neural Engine is 20% faster than A12's (device_facts.md §1)"),
    "A18 Pro": ("A18", 1.0, "guess: same Neural Engine generation as A18 (no figure in source)"),
}

METHOD = (
    "roofline: p50 = max(2 x MACs / (peak ops/s x efficiency), weight bytes / bandwidth); "
    "p90 = p50 x {p90}; peak memory = resident weights x {w} + largest layer's tensors x {a}"
)
SOURCES = (
    "Neural Engine peak: chips/*.toml vendor figure, halved where it counts int8 "
    "(device_facts.md §1); efficiency {eff:.3f} from MobileNetV2 (300 M MACs, Sandler et al. "
    "2018) at 0.48 ms on A16 (device_facts.md §1, T7b); A11 GPU = A12 Neural Engine / 9 "
    "(Apple's Core ML claim, device_facts.md §1); weights decompressed to fp16 before running "
    "except on the Neural Engine from iOS 17 (coremltools docs opt-whats-new, "
    "palettization-overview); CPU counted in fp32 (hollance/neural-engine docs/16-bit.md)"
)
GUESSES = (
    "GPU = Neural Engine x {gpu:.3f}; CPU = GPU x {cpu}; memory bandwidth {bw:g} GB/s; "
    "p90/p50 {p90}; weight copies {w}; activation copies {a}; no source read for these"
)


@dataclass(frozen=True)
class Engine:
    """Where a compute unit's work runs, how fast, and in what precision."""

    name: str  # "ne", "gpu" or "cpu"
    ops_per_s: float
    activation_bytes: int
    compressed_resident: bool


def predict(profile: DeviceProfile, variant: Variant, compute_unit: str) -> Measurement | None:
    """A predicted Measurement, an ``unsupported`` one with the reason, or None (no basis)."""
    if profile.platform not in ("ios", "macos"):
        return None
    if variant.status != "ok" or not variant.macs:
        return None
    chip = chip_of(profile)
    if chip is None or variant.size_bytes is None:
        return None
    if chip.ane_available_to_coreml and ne_peak_tops(chip) is None:
        return None  # no Neural Engine figure to scale from: no basis
    base = roofline.prediction_fields(profile, variant, compute_unit)
    info = convert.BUILD_INFO.read(variant.path) if variant.path is not None else {}
    precision = str(info.get("compute_precision", "float16"))
    if compute_unit not in usable_compute_units(profile):
        return Measurement(
            **base,
            status="unsupported",
            error=f"{chip.name}: Core ML cannot use {compute_unit!r} there (device_facts.md §1)",
        )
    if precision == "float32" and compute_unit in ("cpu_and_ne", "all"):
        return Measurement(
            **base,
            status="unsupported",
            error="an fp32 model runs on the GPU and CPU only; see its cpu_and_gpu and cpu_only "
            "predictions (coremltools docs, typed-execution-example)",
        )
    w8a8 = variant.recipe.step_of(W8A8) is not None if variant.recipe else False
    engines = _engines(profile, chip, compute_unit, precision, w8a8)
    timed = [(_latency_ms(variant, e, profile, precision), e) for e in engines]
    (p50_ms, bound), engine = min(timed, key=lambda t: t[0][0])
    layer_elements = info.get("largest_layer_elements")
    if layer_elements is None:
        inputs_elements = sum(_elements(i.shape) for i in variant.inputs)
        layer_elements = roofline.INPUT_TO_LAYER_GUESS * inputs_elements
    weights_b = _resident_weight_bytes(variant, engine, precision)
    return roofline.predicted_measurement(
        base,
        p50_ms,
        weights_b,
        layer_elements,
        engine.activation_bytes,
        environment={
            "prediction": METHOD.format(
                p90=roofline.P90_OVER_P50, w=roofline.WEIGHT_COPIES, a=roofline.ACTIVATION_COPIES
            ),
            "sources": SOURCES.format(eff=roofline.ANE_EFFICIENCY),
            "guesses": GUESSES.format(
                gpu=roofline.GPU_SHARE_OF_NE,
                cpu=roofline.CPU_SHARE_OF_GPU,
                bw=roofline.MEMORY_BANDWIDTH_GBPS[profile.platform],
                p90=roofline.P90_OVER_P50,
                w=roofline.WEIGHT_COPIES,
                a=roofline.ACTIVATION_COPIES,
            ),
            "chip": chip.id,
            "ne_peak_tops": ne_peak_tops(chip),
            "ne_peak_basis": PEAK_FROM[chip.id][2] if chip.id in PEAK_FROM else "chip file",
            "engine": engine.name,
            "bound": bound,
            "engine_ops_per_s": engine.ops_per_s,
            "macs": variant.macs,
            "resident_weight_bytes": weights_b,
            "largest_layer_elements": layer_elements,
        },
    )


def _engines(
    profile: DeviceProfile, chip: Chip, compute_unit: str, precision: str, w8a8: bool
) -> list[Engine]:
    fp_bytes = 4 if precision == "float32" else 2
    gpu = Engine("gpu", _gpu_ops_per_s(chip), fp_bytes, False)
    cpu = Engine("cpu", gpu.ops_per_s * roofline.CPU_SHARE_OF_GPU, 4, False)
    if compute_unit == "cpu_only":
        return [cpu]
    if compute_unit == "cpu_and_gpu":
        return [gpu]
    int8 = w8a8 and chip.w8a8_accelerated
    ne = Engine(
        "ne",
        _ne_fp16_ops_per_s(chip) * (2 if int8 else 1),
        1 if w8a8 else 2,
        (newest_ios(profile) or 0) >= ON_THE_FLY_DECOMPRESSION_IOS,
    )
    return [ne, gpu] if compute_unit == "all" else [ne]


def ne_peak_tops(chip: Chip) -> float | None:
    """The chip file's Neural Engine figure, else one derived from a sibling's (PEAK_FROM)."""
    if chip.ane_peak_tops:
        return chip.ane_peak_tops
    if chip.id not in PEAK_FROM:
        return None
    sibling_id, factor, _why = PEAK_FROM[chip.id]
    sibling = load_chips().get(sibling_id)
    return sibling.ane_peak_tops * factor if sibling and sibling.ane_peak_tops else None


def _ne_fp16_ops_per_s(chip: Chip) -> float:
    tops = ne_peak_tops(chip) or 0.0
    if chip.w8a8_accelerated:
        tops /= 2  # the vendor figure counts int8 there (device_facts.md §1 caveat)
    return tops * 1e12 * roofline.ANE_EFFICIENCY


def _gpu_ops_per_s(chip: Chip) -> float:
    if chip.ane_available_to_coreml:
        return _ne_fp16_ops_per_s(chip) * roofline.GPU_SHARE_OF_NE
    # A11: Apple's "Core ML 9x faster on A12" compares A12's Neural Engine with A11's best.
    a12 = load_chips().get("A12")
    a12_tops = a12.ane_peak_tops if a12 and a12.ane_peak_tops else 5.0
    return a12_tops * 1e12 * roofline.ANE_EFFICIENCY / A12_OVER_A11_SPEEDUP


def _resident_weight_bytes(variant: Variant, engine: Engine, precision: str) -> int:
    """Weight bytes held while running: the file's where decompression is on the fly."""
    assert variant.size_bytes is not None
    if engine.compressed_resident or not variant.params:
        return variant.size_bytes
    per_weight = 4 if engine.name == "cpu" or precision == "float32" else 2
    return variant.params * per_weight


def _latency_ms(
    variant: Variant, engine: Engine, profile: DeviceProfile, precision: str
) -> tuple[float, str]:
    assert variant.macs is not None
    weights_b = _resident_weight_bytes(variant, engine, precision)
    return roofline.roofline_ms(variant.macs, engine.ops_per_s, weights_b, profile.platform)


def _elements(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    return total
