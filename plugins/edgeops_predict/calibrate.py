"""Fit the per-family constants on published figures and measure what they are worth.

- ``published.csv`` holds every figure with its source. ``is_held_out`` splits it:
  the training part is MobileNetV2 and ResNet50 on the iPhone 14 Pro, and MobileNet V1
  (widths 0.25, 0.5, 1.0) and V2 on the Pixel 3; everything else is held out, i.e. other
  networks (MobileNetV3-small, MobileOne, EfficientNet-Lite, MobileNet V1 0.75) and other
  devices (iPhone 15 Pro, iPhone 12 Pro, Pixel 4).
- The ``npu`` family (Qualcomm AI Hub's NPU figures, Galaxy S23 / S24) is fitted on all
  its rows and held out BY MODEL: each network's figures (on every device) are predicted
  by constants fitted without that network. AI Hub's figures for the RESERVED_MODELS are
  never loaded: they are kept for an independent check of the predictor (issue 27).
- Constants are fitted per engine family by least squares on log latency.
- Interval: split-conformal. The calibration residuals are leave-one-network-out on the
  training part (each network predicted by constants fitted without it); the 90% interval
  is p50 x/÷ exp(q), q the ceil((n+1) x 0.9)-th smallest |log residual|.
- Adaptation: on a device where some variants of a model were measured, the others are
  scaled by the geometric mean of measured / predicted, and the interval uses the
  residuals that correction leaves on the same leave-one-network-out predictions
  (each figure corrected from the other figures of its network, device, unit and
  activation precision), pooled over the engine families.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from .latency import FAMILIES, PARAMS, Engine, LayerArrays, latency_ms
from .layers import Compression
from .platforms import DATA, published_engine

COVERAGE = 0.9
TRAIN_NETWORKS = {
    ("iphone14pro", "mobilenet_v2_1.0_224"),
    ("iphone14pro", "resnet50"),
    ("pixel3", "mobilenet_v2_1.0_224"),
}
TRAIN_V1_WIDTHS = ("0.25", "0.5", "1.0")
# Qualcomm AI Hub's figures for these models are reserved for an independent check of the
# predictor (issue 27, item 4): load_rows drops them, so no fit ever sees them.
RESERVED_MODELS = frozenset({"mediapipe_selfie", "sinet", "deeplabv3_plus_mobilenet"})
# Starting point of the fit: plain guesses, the fit moves them.
START = {
    "eff_conv": 0.3,
    "eff_pointwise": 0.3,
    "eff_depthwise": 0.05,
    "bw_gbps": 30.0,
    "layer_us": 5.0,
    "fixed_us": 50.0,
    "int8_gain": 1.5,
    "sparse_skip": 0.2,
}
# Parameters a family's data cannot inform stay at START (and fitted.json says so).
UNUSED = {
    "cpu": ("sparse_skip",),
    "gpu": ("sparse_skip", "int8_gain"),
    "nnapi": ("sparse_skip",),
    # 7 figures on 3 networks: only the efficiencies, the fixed overhead and the int8 gain
    # are fitted; bandwidth and per-layer overhead stay at START (fitted.json says so).
    "npu": ("sparse_skip", "bw_gbps", "layer_us"),
}


@dataclass(frozen=True)
class Row:
    model: str
    recipe: str
    device: str
    compute_unit: str
    latency_ms: float
    comp: Compression
    engine: Engine
    arrays: LayerArrays
    source: str

    @property
    def network(self) -> str:
        """The network family a recipe sweep belongs to (rank agreement is within it)."""
        return self.model

    @property
    def kernels(self) -> tuple[str, int]:
        """Figures that share kernels share their errors: adaptation stays within this class."""
        return self.compute_unit, self.comp.activation_bits

    @property
    def group(self) -> str:
        if self.compute_unit == "npu":
            return f"npu:{self.model}"  # held out by model, across devices
        m = self.model
        if m.startswith("mobilenet_v1_"):
            m = "mobilenet_v1_" + m.split("_")[2]
        return f"{self.device}:{m}"


def is_held_out(device: str, model: str, compute_unit: str = "") -> bool:
    if compute_unit == "npu":
        return False  # the npu family's error is its leave-one-model-out residuals
    if model.startswith("mobilenet_v1_"):
        return not (device == "pixel3" and model.split("_")[2] in TRAIN_V1_WIDTHS)
    return (device, model) not in TRAIN_NETWORKS


def load_rows(path: Path | None = None) -> list[Row]:
    rows = []
    with open(path or DATA / "published.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["model"] in RESERVED_MODELS:
                continue
            engine = published_engine(r["device"], r["runtime"], r["compute_unit"])
            assert engine is not None, r
            act = int(r["activation_bits"])
            comp = Compression(
                weight_bits=float(r["weight_bits"]),
                sparsity=float(r["sparsity"]),
                activation_bits=act,
                float_weights_bits=32 if r["weight_bits"] == "32" else 16,
            )
            rows.append(
                Row(
                    r["model"],
                    r["recipe"],
                    r["device"],
                    r["compute_unit"],
                    float(r["latency_ms"]),
                    comp,
                    engine,
                    LayerArrays.of(zoo.build(r["model"])),
                    r["source"],
                )
            )
    return rows


def predict_row(row: Row, params: dict[str, float]) -> float:
    return latency_ms(row.arrays, row.engine, row.comp, params)


def fit(rows: list[Row], family: str) -> dict[str, float]:
    from scipy.optimize import minimize

    free = [p for p in PARAMS if p not in UNUSED.get(family, ())]
    mine = [r for r in rows if r.engine.family == family]
    if not mine:
        return dict(START)
    logs = np.log([r.latency_ms for r in mine])

    def unpack(x: np.ndarray) -> dict[str, float]:
        params = dict(START)
        params.update({p: float(math.exp(v)) for p, v in zip(free, x, strict=True)})
        return params

    def loss(x: np.ndarray) -> float:
        params = unpack(x)
        pred = np.log([predict_row(r, params) for r in mine])
        # A weak pull towards the start keeps constants the data cannot see sane.
        return float(((pred - logs) ** 2).sum() + 1e-3 * ((x - x0) ** 2).sum())

    x0 = np.log([START[p] for p in free])
    best = minimize(
        loss, x0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-7}
    )
    best = minimize(
        loss, best.x, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4, "fatol": 1e-7}
    )
    return unpack(best.x)


def conformal_q(residuals: list[float], coverage: float = COVERAGE) -> float:
    """Split-conformal quantile of |log residual| with the finite-sample correction."""
    a = sorted(abs(r) for r in residuals)
    if not a:
        return math.inf
    k = math.ceil((len(a) + 1) * coverage)
    return a[min(k, len(a)) - 1]


def calibrate(rows: list[Row]) -> dict[str, Any]:
    train = [
        r
        for r in rows
        if r.model not in RESERVED_MODELS and not is_held_out(r.device, r.model, r.compute_unit)
    ]
    out: dict[str, Any] = {"coverage": COVERAGE, "families": {}}
    pooled: list[float] = []
    for family in FAMILIES:
        mine = [r for r in train if r.engine.family == family]
        if not mine:
            continue
        params = fit(train, family)
        residuals: list[float] = []
        adapted: list[float] = []
        for group in sorted({r.group for r in mine}):
            rest = [r for r in mine if r.group != group]
            sub = fit(rest, family) if rest else params
            held = [r for r in mine if r.group == group]
            logr = [math.log(predict_row(r, sub) / r.latency_ms) for r in held]
            residuals += logr
            adapted += _corrected(held, logr)
        out["families"][family] = {
            "params": params,
            "fitted": [p for p in PARAMS if p not in UNUSED.get(family, ())],
            "not_fitted": list(UNUSED.get(family, ())),
            "q_log": conformal_q(residuals),
            "calibration_residuals": len(residuals),
            "training_rows": len(mine),
            "training_groups": sorted({r.group for r in mine}),
            "training_devices": sorted({r.device for r in mine}),
        }
        if family != "npu":  # the pool and the other families' intervals stay as they were
            pooled += adapted
    # What a correction leaves is pooled across families: 12-24 residuals per family give
    # an unstable 90% quantile (ne's alone gave ±5% and covered 27% of held-out figures,
    # README "Predictions"), 76 pooled give a stable one.
    for entry in out["families"].values():
        entry["q_log_adapted"] = conformal_q(pooled)
        entry["adapted_residuals"] = len(pooled)
    return out


def _corrected(rows: list[Row], log_errors: list[float]) -> list[float]:
    """Residuals left after correcting each row from the others of its kernel class (leave-one-out).

    The class is the compute unit and activation precision: an fp32 figure's error says
    little about an int8 one's (different kernels), so one never corrects the other.
    """
    out = []
    for i, r in enumerate(rows):
        others = [e for j, e in enumerate(log_errors) if j != i and rows[j].kernels == r.kernels]
        if others:
            out.append(log_errors[i] - sum(others) / len(others))
    return out


def write_fitted(path: Path | None = None) -> dict[str, Any]:
    fitted = calibrate(load_rows())
    fitted["note"] = (
        "FITTED constants (calibrate.py) on the training part of published.csv; "
        "q_log: split-conformal 90% half-width in log space from leave-one-network-out "
        "residuals; q_log_adapted: the same after correcting from other measured variants"
    )
    target = path or DATA / "fitted.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(fitted, indent=2, sort_keys=True) + "\n")
    tmp.replace(target)
    return fitted


if __name__ == "__main__":
    result = write_fitted()
    for fam, v in result["families"].items():
        print(fam, {k: round(x, 4) for k, x in v["params"].items()}, "q", round(v["q_log"], 3))
