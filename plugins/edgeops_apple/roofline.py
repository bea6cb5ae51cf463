"""Roofline predictions of latency and peak memory: the arithmetic the Apple backends share.

A Core ML and a Core AI variant of one recipe are predicted alike, from the same
chip files (device_profiles/chips/*.toml) and these constants::

    p50 = max(2 × MACs / (engine ops/s), weight bytes read / memory bandwidth)
    p90 = p50 × P90_OVER_P50
    peak memory = resident weights × WEIGHT_COPIES + largest layer's tensors × ACTIVATION_COPIES

Which engine a compute unit runs on, and at what rate, is each backend's own
(edgeops_coreml/predict.py, edgeops_coreai/predict.py); the numbers below are not.

SOURCED: ANE_EFFICIENCY ≈ 0.074, from MobileNetV2 (300 M multiply-adds, Sandler et
al. 2018, "MobileNetV2", Table 6) running fp16 in 0.48 ms on an iPhone 14 Pro (A16,
17 TOPS) (device_facts.md §1, latency table T7b): 0.6 G ops / 0.48 ms / 17 T ops/s.

GUESSES (no source read; replace them with Mac-host measurements): a chip's GPU
reaches 1/6 of its Neural Engine's effective fp16 rate and its CPU 0.4 of the GPU's;
30 GB/s memory bandwidth on iPhones and 60 GB/s on Macs (LPDDR4X/5-class figures);
p90/p50 = 1.1; weight copies 1.5 (the loaded weights plus the runtime's specialised
copy during load); activation copies 2 (a layer's inputs and outputs alive with the
next layer's buffer); without a recorded largest layer, 8 times the inputs.
"""

from __future__ import annotations

from typing import Any

from edgeops.plugin import DeviceProfile, Measurement, PeakMemory, Variant

# --- sourced (see the module docstring)
MOBILENETV2_MACS = 300e6
MOBILENETV2_A16_FP16_MS = 0.48
A16_NE_TOPS = 17.0
ANE_EFFICIENCY = 2 * MOBILENETV2_MACS / (MOBILENETV2_A16_FP16_MS * 1e-3) / (A16_NE_TOPS * 1e12)
# --- guesses (see the module docstring)
GPU_SHARE_OF_NE = 1 / 6
CPU_SHARE_OF_GPU = 0.4
MEMORY_BANDWIDTH_GBPS = {"ios": 30.0, "macos": 60.0}
P90_OVER_P50 = 1.1
WEIGHT_COPIES = 1.5
ACTIVATION_COPIES = 2.0
INPUT_TO_LAYER_GUESS = 8

PEAK_MEMORY_DEFINITION = (
    f"predicted, not measured: resident weights x {WEIGHT_COPIES} + "
    f"largest layer's input and output tensors x {ACTIVATION_COPIES}"
)


def prediction_fields(
    profile: DeviceProfile, variant: Variant, compute_unit: str
) -> dict[str, Any]:
    """The fields every prediction for ``profile`` has, whatever its status."""
    return {
        "variant_id": variant.id,
        "device_id": f"predicted:{profile.id}",
        "profile_id": profile.id,
        "compute_unit": compute_unit,
        "method": "predicted",
    }


def roofline_ms(macs: int, ops_per_s: float, weight_bytes: int, platform: str) -> tuple[float, str]:
    """The p50 latency in ms, and whether ``"compute"`` or ``"memory"`` bounds it."""
    compute_ms = 2 * macs / ops_per_s * 1e3
    memory_ms = weight_bytes / (MEMORY_BANDWIDTH_GBPS[platform] * 1e9) * 1e3
    if compute_ms >= memory_ms:
        return compute_ms, "compute"
    return memory_ms, "memory"


def predicted_measurement(
    fields: dict[str, Any],
    p50_ms: float,
    weight_bytes: int,
    layer_elements: int,
    activation_bytes: int,
    environment: dict[str, Any],
) -> Measurement:
    """An ``ok`` prediction: p90 and peak memory follow from p50 and the resident bytes."""
    peak_mb = (
        WEIGHT_COPIES * weight_bytes + ACTIVATION_COPIES * layer_elements * activation_bytes
    ) / 2**20
    return Measurement(
        **fields,
        status="ok",
        p50_ms=p50_ms,
        p90_ms=p50_ms * P90_OVER_P50,
        peak_mem=PeakMemory(
            raw_mb=round(peak_mb, 3),
            baseline_mb=None,
            over_baseline_mb=None,
            definition=PEAK_MEMORY_DEFINITION,
        ),
        environment=environment,
    )
