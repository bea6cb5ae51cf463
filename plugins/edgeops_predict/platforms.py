"""Chip facts (``data/platforms.toml``) turned into Engines for a device and compute unit."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from .latency import Engine

DATA = Path(__file__).parent / "data"

# Core ML's compute units on an engine family; "all" runs where Core ML puts it, the
# Neural Engine for the convolutional nets of the calibration set (their figures are "all").
COREML_UNITS = {
    "all": "ne",
    "cpu_and_ne": "ne",
    "cpu_and_gpu": "apple_gpu",
    "cpu_only": "apple_cpu",
}
# Apple GPU and CPU have no published figure in the calibration set: they are scaled from
# the Neural Engine by these GUESSES (kept from the roofline this predictor replaced), and
# their predictions say "uncalibrated" and state no coverage.
APPLE_GPU_SHARE_OF_NE = 1 / 6
APPLE_CPU_SHARE_OF_GPU = 0.4
# TFLite's compute units on an engine family. "xnnpack" shares the CPU family for want of
# its own figures to fit: the calibration figures are TFLite's built-in CPU kernels
# (hosted_models.md, 2019-2020), so XNNPACK predictions say "uncalibrated".
# "npu" is LiteRT's vendor NPU accelerator (Qualcomm QNN HTP here); its family is fitted
# on Qualcomm AI Hub's published NPU figures only (README "Predictions", NPU rows).
TFLITE_UNITS = {"cpu": "cpu", "xnnpack": "cpu", "gpu": "gpu", "nnapi": "nnapi", "npu": "npu"}


@functools.cache
def facts() -> dict[str, Any]:
    with open(DATA / "platforms.toml", "rb") as f:
        return tomllib.load(f)


def cpu_peak(cores: list[str]) -> float:
    per_cycle = facts()["core_macs_per_cycle"]
    total = 0.0
    for core in cores[:4]:  # a 4-thread run
        name, ghz = core.split(":")
        total += float(ghz) * 1e9 * per_cycle[name]
    return total


def apple_engine(chip: str, compute_unit: str) -> tuple[Engine, bool] | None:
    """The engine of a Core ML compute unit on an Apple chip, and whether it is calibrated."""
    chips = facts()["apple_chips"]
    if chip not in chips or compute_unit not in COREML_UNITS:
        return None
    entry = chips[chip]
    tops = float(entry["ne_fp16_tops"])
    accel = bool(entry.get("w8a8_accelerated", False))
    where = COREML_UNITS[compute_unit]
    if tops == 0.0:  # A11: the GPU is Core ML's best engine; A12's NE / 9 (device_facts.md §1)
        if where == "ne":
            return None
        tops = float(chips["A12"]["ne_fp16_tops"]) / 9 / APPLE_GPU_SHARE_OF_NE
    peak = tops * 1e12 / 2
    basis = f"{chip} Neural Engine {tops:g} fp16 TOPS (device_facts.md §1)"
    if where == "ne":
        return Engine("ne", peak, None, accel, True, basis), True
    peak *= APPLE_GPU_SHARE_OF_NE
    basis += f" x {APPLE_GPU_SHARE_OF_NE:.3f} (GPU share, guess)"
    if where == "apple_cpu":
        peak *= APPLE_CPU_SHARE_OF_GPU
        basis += f" x {APPLE_CPU_SHARE_OF_GPU} (CPU share, guess)"
    return Engine("ne", peak, None, False, False, basis), False


def android_engine(device: str, compute_unit: str) -> Engine | None:
    entry = facts().get(device)
    if not isinstance(entry, dict) or "cpu_cores" not in entry:
        return None
    family = TFLITE_UNITS.get(compute_unit)
    if family is None:
        return None
    cores = list(entry["cpu_cores"])
    basis = f"{entry['chip']}: {', '.join(cores[:4])} (platforms.toml: {entry['source']})"
    return Engine(family, cpu_peak(cores), entry.get("mem_gbps"), False, False, basis)


def published_engine(device: str, runtime: str, compute_unit: str) -> Engine | None:
    """The engine behind a row of published.csv."""
    entry = facts().get(device, {})
    if runtime == "coreml":
        tops = float(entry["ne_fp16_tops"])
        return Engine(
            "ne", tops * 1e12 / 2, None, bool(entry.get("w8a8_accelerated")), True, entry["source"]
        )
    return android_engine(device, compute_unit)
