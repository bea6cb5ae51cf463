"""The ONNX Runtime recipes: fp32, fp16, int8 dynamic, int8 static QDQ."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from edgeops import KeepFloatStep, QuantizedLayer
from edgeops.plugin import (
    Recipe,
    SampleSet,
    StageError,
    StepConfig,
    quiet,
    sample_feeds,
)


class Float16(StepConfig):
    """onnxruntime.transformers.float16.convert_float_to_float16."""

    op: ClassVar[str] = "float16"
    keep_io_types: bool = Field(
        True, description="keep float32 inputs and outputs, so the app's feeds are unchanged"
    )


class QuantizeDynamic(StepConfig):
    """onnxruntime.quantization.quantize_dynamic: int8 weights, activations at run time."""

    op: ClassVar[str] = "quantize_dynamic"
    weight_type: Literal["QUInt8", "QInt8"] = Field(
        # U8 weights: S8 made ConvInteger 127 ms against 28 ms here (conversion-notes.md).
        "QUInt8",
        description="weight integer type (onnxruntime QuantType)",
    )


class QuantizeStatic(KeepFloatStep):
    """onnxruntime.quantization.quantize_static, calibrated on the run's samples.

    ``float_layers`` are its ``nodes_to_exclude``: node names of the pre-processed
    graph, as ``quantized_layers`` reports them.
    """

    op: ClassVar[str] = "quantize_static"
    # The calibration method changes only the ranges, not the kernels.
    kind_fields: ClassVar[tuple[str, ...] | None] = (
        "format",
        "per_channel",
        "activation_type",
        "weight_type",
    )
    format: Literal["QDQ", "QOperator"] = Field("QDQ", description="onnxruntime QuantFormat")
    per_channel: bool = Field(True, description="one scale per output channel of each weight")
    activation_type: Literal["QUInt8", "QInt8"] = Field("QUInt8", description="activation type")
    weight_type: Literal["QUInt8", "QInt8"] = Field("QInt8", description="weight type")
    calibrate_method: Literal["MinMax", "Entropy", "Percentile"] = Field(
        "MinMax", description="onnxruntime CalibrationMethod"
    )

    @model_validator(mode="after")
    def _layers_named_in_qdq(self) -> QuantizeStatic:
        # A QOperator graph replaces the nodes by QLinear ones: no layer to name.
        if self.keep_float == "auto" and self.format != "QDQ":
            raise ValueError("keep_float = 'auto' needs format = 'QDQ'")
        return self

    @model_validator(mode="after")
    def _supported_by_onnxruntime(self) -> QuantizeStatic:
        # quantize_static refuses this pair itself (check_static_quant_arguments),
        # after calibration; refusing it here drops it from a sweep with the reason.
        if self.activation_type == "QInt8" and self.weight_type == "QUInt8":
            raise ValueError(
                "onnxruntime does not quantize QInt8 activations with QUInt8 weights; "
                "use QInt8 weights or QUInt8 activations"
            )
        return self


STEPS = (Float16, QuantizeDynamic, QuantizeStatic)

RECIPES = (
    Recipe.of(name="fp32", format="onnx", description="the converted model as is"),
    Recipe.of(
        name="fp16",
        format="onnx",
        steps=[Float16()],
        compute_precision="float16",
        description="fp16 weights and compute, fp32 inputs and outputs",
    ),
    Recipe.of(
        name="int8-dynamic",
        format="onnx",
        steps=[QuantizeDynamic()],
        description="int8 weights, activations quantized at run time",
    ),
    Recipe.of(
        name="int8-static",
        format="onnx",
        steps=[QuantizeStatic()],
        description="int8 weights and activations (QDQ), calibrated on the samples",
    ),
)


def apply(recipe: Recipe, source: Path, out: Path, samples: SampleSet) -> None:
    steps = recipe.typed_steps(*STEPS)
    if not steps:
        shutil.copyfile(source, out)
        return
    if len(steps) > 1:
        raise StageError(f"{recipe.id}: the ONNX backend applies one step, not {len(steps)}")
    step = steps[0]
    with quiet("onnxruntime", "root") as log:
        try:
            if isinstance(step, Float16):
                _float16(source, out, step)
            elif isinstance(step, QuantizeDynamic):
                _dynamic(source, out, step, out.parent)
            elif isinstance(step, QuantizeStatic):
                _static(source, out, step, samples, out.parent)
        except StageError:
            raise
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise StageError(
                f"{recipe.name}: {type(exc).__name__}: {text} {log.tail(1)}".strip()
            ) from exc


def _float16(source: Path, out: Path, step: Float16) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=step.keep_io_types)
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


def _flatten_gemm_biases(path: Path) -> None:
    """Give every Gemm a 1-D bias: ``[1, N]`` becomes ``[N]``, which Gemm broadcasts alike.

    ORT's pre-processing fuses MatMul + Add into a Gemm whose bias keeps the Add's
    ``[1, N]`` shape (MNIST from onnxruntime's examples: Parameter194). Per-channel
    static quantization then indexes that bias per output channel, gets a row of N
    values instead of one, and fails with numpy's "truth value of an array is
    ambiguous" (qdq_quantizer.py, ``_adjust_weight_scale_for_int32_bias``).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    initializers = {i.name: i for i in model.graph.initializer}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    changed = False
    for node in model.graph.node:
        if node.op_type != "Gemm" or len(node.input) < 3:
            continue
        bias = initializers.get(node.input[2])
        if bias is None or len(bias.dims) != 2 or bias.dims[0] != 1 or uses[bias.name] != 1:
            continue
        flat = numpy_helper.to_array(bias).reshape(-1)
        bias.CopyFrom(numpy_helper.from_array(flat, bias.name))
        # Shapes recorded for the old [1, N] would contradict the new one: drop them
        # (value_info) or correct them (an initializer listed as a graph input, IR < 4).
        kept = [v for v in model.graph.value_info if v.name != bias.name]
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
        for graph_input in model.graph.input:
            if graph_input.name == bias.name:
                dims = graph_input.type.tensor_type.shape.dim
                del dims[:]
                dims.add().dim_value = flat.size
        changed = True
    if changed:
        onnx.save(model, str(path))


def _preprocessed(source: Path, scratch: Path) -> Path:
    """Opset upgrade, then ORT's recommended shape inference and folding before quantization.

    When ORT's symbolic shape inference fails, the pre-processing is tried again
    without it, then skipped: it is an optimisation, and plain quantization of the
    same file succeeds. Two failures of it, both in tests/test_onnx_recipes.py: a
    U-Net whose attention gate concatenates a ReduceMax (opset 18) raises
    "TypeError: 'NoneType' object is not iterable" in its Concat rule (issue 12),
    and a Resize by scales under a symbolic batch gives "Incomplete symbolic shape
    inference"."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _ort_tools_without_torch()
    model = onnx.load(str(source))
    opset = next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_QUANTIZE_OPSET
    )
    if opset < MIN_QUANTIZE_OPSET:
        upgraded = scratch / "upgraded.onnx"
        onnx.save(version_converter.convert_version(model, MIN_QUANTIZE_OPSET), str(upgraded))
        source = upgraded
    prepared = scratch / "preprocessed.onnx"
    for skip_symbolic_shape in (False, True):
        try:
            with _removing_ort_leftovers():
                quant_pre_process(
                    str(source), str(prepared), skip_symbolic_shape=skip_symbolic_shape
                )
            break
        except Exception:
            prepared.unlink(missing_ok=True)
    else:
        shutil.copyfile(source, prepared)
    if source.name == "upgraded.onnx":
        source.unlink()
    _flatten_gemm_biases(prepared)
    return prepared


def _ort_tools_without_torch() -> None:
    """Make ``onnxruntime.tools`` importable without running its ``__init__``'s torch import.

    ``quant_pre_process`` imports ``onnxruntime.tools.symbolic_shape_infer``, and the
    package's ``__init__`` (onnxruntime 1.31) imports torch whenever it is installed,
    for a PyTorch export helper (``infer_input_info``) quantization never uses: seconds
    of CPU and a few hundred MB in every worker that quantizes an ONNX model. The
    package is made from its own spec instead, with that helper and ``have_torch``
    resolved on first use, so any other user of the package gets what it had.
    """
    import importlib.util
    import sys

    if "onnxruntime.tools" in sys.modules:
        return
    spec = importlib.util.find_spec("onnxruntime.tools")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)

    def lazy(name: str) -> Any:
        if name == "have_torch":
            return importlib.util.find_spec("torch")
        if name == "infer_input_info":
            from onnxruntime.tools.pytorch_export_helpers import infer_input_info

            return infer_input_info
        raise AttributeError(f"module 'onnxruntime.tools' has no attribute {name!r}")

    package.__getattr__ = lazy  # type: ignore[method-assign]
    sys.modules["onnxruntime.tools"] = package


# Where ORT's symbolic shape inference gives up it saves the partly inferred model
# as this file in the current folder, its weights in a uuid-named .data file beside
# it (onnxruntime/tools/symbolic_shape_infer.py, SymbolicShapeInference.infer_shapes,
# 1.31). In a run the current folder is the user's project.
_ORT_LEFTOVER = "sym_shape_infer_temp.onnx"


@contextlib.contextmanager
def _removing_ort_leftovers() -> Iterator[None]:
    """Remove the leftover model and its data files if the body (re)wrote them.

    Only files ORT wrote here go: the model if it is new or changed, and the data
    files it names that were not in the folder before. The folder is not changed
    for the call instead: the current folder is the whole process's.
    """
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    try:
        folder = Path.cwd()
        names_before = set(os.listdir(folder))
    except OSError:  # no current folder (removed) or an unreadable one: nothing to protect
        yield
        return
    leftover = folder / _ORT_LEFTOVER
    before = _identity(leftover)
    try:
        yield
    finally:
        if _identity(leftover) not in (None, before):
            with contextlib.suppress(Exception):
                model = onnx.load(str(leftover), load_external_data=False)
                for tensor in model.graph.initializer:
                    if uses_external_data(tensor):
                        name = ExternalDataInfo(tensor).location
                        # Only a plain name in this folder, made by this call.
                        if name == Path(name).name and name not in names_before:
                            (folder / name).unlink(missing_ok=True)
            leftover.unlink(missing_ok=True)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _dynamic(source: Path, out: Path, step: QuantizeDynamic, scratch: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    prepared = _preprocessed(source, scratch)
    quantize_dynamic(str(prepared), str(out), weight_type=QuantType[step.weight_type])
    prepared.unlink()


def _static(
    source: Path, out: Path, step: QuantizeStatic, samples: SampleSet, scratch: Path
) -> None:
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
        quant_format=QuantFormat[step.format],
        per_channel=step.per_channel,
        activation_type=QuantType[step.activation_type],
        weight_type=QuantType[step.weight_type],
        calibrate_method=CalibrationMethod[step.calibrate_method],
        nodes_to_exclude=list(step.float_layers),
    )
    prepared.unlink()


_QDQ = ("QuantizeLinear", "DequantizeLinear")


def quantized_layers(recipe: Recipe, path: Path) -> tuple[QuantizedLayer, ...]:
    """The nodes a static QDQ recipe quantized, in graph order; none for other recipes.

    quantize_static keeps the compute nodes' names and wraps their inputs in
    DequantizeLinear, so a node fed by one is a layer it quantized, and its name
    is what ``nodes_to_exclude`` takes. A node it excluded still reads dequantized
    inputs, so the recipe's ``float_layers`` are left out by name.
    """
    step = recipe.step_of(QuantizeStatic)
    if step is None or step.format != "QDQ":
        return ()
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return tuple(
        QuantizedLayer(name=n.name, op=n.op_type)
        for n in graph.node
        if n.op_type not in _QDQ
        and n.name
        and n.name not in step.float_layers
        and any(i in dequantized for i in n.input)
    )
