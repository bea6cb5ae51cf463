"""The ONNX Runtime recipes: fp32, fp16, int8 dynamic, int8 static QDQ."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgeops.plugin import Recipe, RecipeStep, SampleSet, StageError, quiet, sample_feeds

RECIPES = (
    Recipe(name="fp32", format="onnx", description="the converted model as is"),
    Recipe(
        name="fp16",
        format="onnx",
        steps=(RecipeStep(op="float16", params={"keep_io_types": True}),),
        description="fp16 weights and compute, fp32 inputs and outputs",
    ),
    Recipe(
        name="int8-dynamic",
        format="onnx",
        # U8 weights: S8 made ConvInteger 127 ms against 28 ms here (conversion-notes.md).
        steps=(RecipeStep(op="quantize_dynamic", params={"weight_type": "QUInt8"}),),
        description="int8 weights, activations quantized at run time",
    ),
    Recipe(
        name="int8-static",
        format="onnx",
        steps=(
            RecipeStep(
                op="quantize_static",
                params={
                    "format": "QDQ",
                    "per_channel": True,
                    "activation_type": "QUInt8",
                    "weight_type": "QInt8",
                    "calibrate_method": "MinMax",
                },
            ),
        ),
        description="int8 weights and activations (QDQ), calibrated on the samples",
    ),
)


def apply(recipe: Recipe, source: Path, out: Path, samples: SampleSet) -> None:
    if not recipe.steps:
        shutil.copyfile(source, out)
        return
    step = recipe.steps[0]
    apply_step = {
        "float16": _float16,
        "quantize_dynamic": _dynamic,
        "quantize_static": _static,
    }.get(step.op)
    if apply_step is None:
        raise StageError(f"unknown ONNX recipe step {step.op!r}")
    with quiet("onnxruntime", "root") as log:
        try:
            apply_step(source, out, step.params, samples, out.parent)
        except StageError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise StageError(
                f"{recipe.name}: {type(exc).__name__}: {text} {log.tail(1)}".strip()
            ) from exc


def _float16(source: Path, out: Path, params: dict, samples: SampleSet, scratch: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=params["keep_io_types"])
    _drop_repeated_casts(model.graph)
    onnx.save(model, str(out))


def _drop_repeated_casts(graph: Any) -> None:
    """Remove nodes that repeat an earlier node exactly: ORT refuses to load them.

    The fp16 converter adds a Cast back to fp32 per consumer of a kept-fp32
    value and names it after the value, so a value the torch 2.13 exporter feeds
    to two such consumers gets two identical Casts writing one output.
    """
    seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    kept = []
    for node in graph.node:
        key = (node.op_type, tuple(node.input), tuple(node.output))
        if node.op_type == "Cast" and key in seen:
            continue
        seen.add(key)
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


# Per-channel QDQ needs DequantizeLinear's axis attribute, new in opset 13: ORT
# quantizes an older model anyway and writes a graph it then refuses to load.
MIN_QUANTIZE_OPSET = 13


def _preprocessed(source: Path, scratch: Path) -> Path:
    """Opset upgrade, then ORT's recommended shape inference and folding before quantization."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    opset = next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_QUANTIZE_OPSET
    )
    if opset < MIN_QUANTIZE_OPSET:
        upgraded = scratch / "upgraded.onnx"
        onnx.save(version_converter.convert_version(model, MIN_QUANTIZE_OPSET), str(upgraded))
        source = upgraded
    prepared = scratch / "preprocessed.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
    if source.name == "upgraded.onnx":
        source.unlink()
    return prepared


def _dynamic(source: Path, out: Path, params: dict, samples: SampleSet, scratch: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    prepared = _preprocessed(source, scratch)
    quantize_dynamic(str(prepared), str(out), weight_type=QuantType[params["weight_type"]])
    prepared.unlink()


def _static(source: Path, out: Path, params: dict, samples: SampleSet, scratch: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class SampleReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(sample_feeds(samples))

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    prepared = _preprocessed(source, scratch)
    quantize_static(
        str(prepared),
        str(out),
        SampleReader(),
        quant_format=QuantFormat[params["format"]],
        per_channel=params["per_channel"],
        activation_type=QuantType[params["activation_type"]],
        weight_type=QuantType[params["weight_type"]],
        calibrate_method=CalibrationMethod[params["calibrate_method"]],
    )
    prepared.unlink()
