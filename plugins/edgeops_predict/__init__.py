"""Predictions for profiles with no device: a per-layer latency model for every platform.

Core ML on iPhones and Macs (per compute unit), TFLite on Android CPU / GPU / NNAPI /
NPU (the int8-full graph on the `npu` unit), TFLite and ONNX Runtime on Linux boards. Constants are fitted on published measurements
(``data/published.csv``, a source per row) and every figure carries a 90% interval
(``Measurement.p50_interval``). It runs before the Core ML plugin's older roofline
(``tryfirst``); where it has no basis it returns None and that one answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeops.plugin import hookimpl

if TYPE_CHECKING:
    from edgeops.plugin import DeviceProfile, Measurement, Variant


@hookimpl(tryfirst=True)
def edgeops_predict(
    profile: DeviceProfile, variant: Variant, compute_unit: str
) -> Measurement | None:
    from . import predictor  # numpy and the fitted constants load on first use

    return predictor.predict(profile, variant, compute_unit)


@hookimpl
def edgeops_adapt_predictions(
    predictions: list[Measurement], measurements: list[Measurement]
) -> list[Measurement] | None:
    mine = [p for p in predictions if "engine_family" in p.environment]
    if not mine:
        return None
    others = [p for p in predictions if "engine_family" not in p.environment]
    from . import predictor

    return others + predictor.adapt(mine, measurements)
