"""The TFLite recipes: fp32, fp16 weights, dynamic-range int8, full int8, int16x8.

Every recipe is one run of tf.lite.TFLiteConverter on the SavedModel the
conversion kept beside the fp32 .tflite: TFLite quantizes at conversion time,
not from a finished .tflite. Times and SNRs measured on a U-Net here
(conversion-notes.md): fp16 3.0 s 75 dB, dynamic int8 3.2 s 53 dB, full int8
6.0 s 47.5 dB, int16x8 7.5 s 54 dB.
"""

from __future__ import annotations

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
    quiet,
    sample_feeds,
)

from .layout import IoLayout

FORMAT = "tflite"
SAVED_MODEL_DIR = "saved_model"


class Quantize(KeepFloatStep):
    """One run of tf.lite.TFLiteConverter on the kept SavedModel, with these options.

    On a litert-torch model (no SavedModel) the same options go to ai-edge-quantizer
    instead (litert_torch_route.quantize).

    ``float_layers`` (full int8 only) are op output tensor names, as
    ``quantized_layers`` reports them; they go to the converter's MLIR quantizer
    as ``denylisted_nodes`` through tf.lite.experimental.QuantizationDebugger,
    the public route to it.
    """

    op: ClassVar[str] = "convert"
    optimize: bool = Field(False, description="converter.optimizations = [Optimize.DEFAULT]")
    weight_type: Literal["float16"] | None = Field(
        None, description="target_spec.supported_types: float16 weights"
    )
    ops: Literal["int8", "int16x8"] | None = Field(
        None,
        description="integer-only op set: TFLITE_BUILTINS_INT8, or int16 activations with "
        "int8 weights (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8)",
    )
    calibrate: bool = Field(
        False, description="a representative dataset from the run's samples (needed by ops)"
    )

    @model_validator(mode="after")
    def _float_layers_in_int8(self) -> Quantize:
        # The denylist is the full-integer quantizer's; int16x8 and dynamic range have none.
        if (self.keep_float == "auto" or self.float_layers) and self.ops != "int8":
            raise ValueError("keep_float and float_layers need ops = 'int8'")
        return self

    @model_validator(mode="after")
    def _integer_ops_need_calibration(self) -> Quantize:
        if self.ops is not None and not self.calibrate:
            raise ValueError(f"ops={self.ops!r} needs calibrate=true (activation ranges)")
        return self


AS_IS = Recipe.of(
    name="as-is",
    format=FORMAT,
    description="the given .tflite unchanged (no TF graph to re-quantize from)",
)

RECIPES = (
    Recipe.of(
        name="fp32", format=FORMAT, description="the converted model, float32 weights and compute"
    ),
    Recipe.of(
        name="fp16",
        format=FORMAT,
        steps=[Quantize(optimize=True, weight_type="float16")],
        description="float16 weights, dequantized to float32 at load on CPU; GPU delegates run them in fp16",
    ),
    Recipe.of(
        name="int8-dynamic",
        format=FORMAT,
        steps=[Quantize(optimize=True)],
        description="int8 weights, activations quantized at run time (dynamic range)",
    ),
    INT8_FULL := Recipe.of(
        name="int8-full",
        format=FORMAT,
        steps=[Quantize(optimize=True, ops="int8", calibrate=True)],
        # Float inputs and outputs keep the app's pre- and post-processing unchanged;
        # the quantize and dequantize at the ends cost little.
        description="int8 weights and activations calibrated on the samples, float32 inputs and outputs",
    ),
    Recipe.of(
        name="int16x8",
        format=FORMAT,
        steps=[Quantize(optimize=True, ops="int16x8", calibrate=True)],
        # Many runtimes have only reference kernels for it: 606 ms against 8.9 ms fp32
        # here (conversion-notes.md). It stays in the sweep for accuracy-bound models.
        description="int16 activations and int8 weights, calibrated on the samples",
    ),
)

# Below this SNR against the reference the fp32 variant is a mis-conversion, not
# rounding: onnx2tf's silent mis-conversion gave 22 dB (conversion-notes.md).
# fp16 is not held to it: fp16 weights alone cost a real 512x512 PAN segmenter
# 22.6 dB here, in ONNX Runtime and TFLite alike. The quality floor judges them.
MISCONVERSION_SNR_DB = {"fp32": 40.0}


def saved_model_of(tflite_path: Path) -> Path | None:
    folder = tflite_path.parent / SAVED_MODEL_DIR
    return folder if (folder / "saved_model.pb").is_file() else None


def from_litert_torch(tflite_path: Path) -> bool:
    """litert-torch made it: no SavedModel; ai-edge-quantizer makes its recipes."""
    from .litert_torch_route import ROUTE

    layout = IoLayout.load(tflite_path)
    return layout is not None and layout.converter == ROUTE


def recipes_for(tflite_path: Path) -> tuple[Recipe, ...]:
    if saved_model_of(tflite_path) is not None or from_litert_torch(tflite_path):
        return RECIPES
    return (AS_IS,)


def apply(recipe: Recipe, artifact_path: Path, out: Path, samples: SampleSet) -> None:
    """Write ``recipe``'s variant of the artifact at ``artifact_path`` to ``out``."""
    layout = IoLayout.load(artifact_path)
    if not recipe.steps:
        shutil.copyfile(artifact_path, out)
    elif layout is not None and from_litert_torch(artifact_path):
        from . import litert_torch_route

        (step,) = recipe.typed_steps(Quantize)
        litert_torch_route.quantize(artifact_path, out, step, samples, layout)
    else:
        saved_model = saved_model_of(artifact_path)
        if saved_model is None:
            raise StageError(
                f"{recipe.name} needs the TF graph, and {artifact_path.name} came as a .tflite; "
                "give the Keras, SavedModel or ONNX source instead"
            )
        (step,) = recipe.typed_steps(Quantize)
        convert_saved_model(saved_model, out, step, samples if step.calibrate else None, layout)
    if layout is not None:
        layout.save(out)


def convert_saved_model(
    saved_model: Path,
    out: Path,
    step: Quantize,
    samples: SampleSet | None = None,
    layout: IoLayout | None = None,
) -> None:
    with quiet("tensorflow", "absl") as log:
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        # Builtin ops only: a Flex (TF select) op would need the 750 MB TF runtime on
        # the device, which the light interpreters do not have.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if step.optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if step.weight_type == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if step.ops == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        elif step.ops == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
        if samples is not None:
            converter.representative_dataset = lambda: _representative(samples, layout)
        try:
            if step.float_layers:
                flatbuffer = _with_float_layers(converter, step.float_layers)
            else:
                flatbuffer = converter.convert()
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise StageError(
                f"TFLiteConverter failed ({type(exc).__name__}: {text}) {log.tail(1)}".strip()
            ) from exc
    out.write_bytes(flatbuffer)


def _representative(samples: SampleSet, layout: IoLayout | None) -> Iterator[dict[str, Any]]:
    """Calibration feeds keyed by the SavedModel's input names, in its layout."""
    for feed in sample_feeds(samples):
        yield layout.to_tflite(feed) if layout is not None else feed


# Ops that only move or reshape data. After a layer kept in float, such ops would
# quantize its output again at the same range (TFLite gives them their input's
# scale), undoing the point of keeping it: they stay in float with it.
_PASS_THROUGH = {"RESHAPE", "TRANSPOSE", "SQUEEZE", "EXPAND_DIMS", "PACK", "UNPACK"}
_NOT_LAYERS = {"QUANTIZE", "DEQUANTIZE", "DELEGATE"}


def _with_float_layers(converter: Any, float_layers: tuple[str, ...]) -> bytes:
    """Full-int8 conversion with ``float_layers`` (and the data moves after them) in float."""
    import tensorflow as tf

    def dataset() -> Iterator[list[Any]]:
        for feed in converter.representative_dataset():
            yield list(feed.values()) if isinstance(feed, dict) else feed

    # Float kernels next to int8 ones: the full-integer op set alone refuses a float op.
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]
    options = tf.lite.experimental.QuantizationDebugOptions
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=dataset, debug_options=options()
    )
    ops = _ops(debugger.calibrated_model)
    names = {name for _, name, _ in ops}
    wanted = tuple(_calibrated_name(layer, names) for layer in float_layers)
    debugger.options = options(denylisted_nodes=_closure(ops, wanted))
    return bytes(debugger.get_nondebug_quantized_model())


def _calibrated_name(layer: str, names: set[str]) -> str:
    """The float graph's name of an op output named as in a quantized file.

    Where the quantizer keeps a float copy of an output (a model output, a value a
    float op reads), the float copy keeps the name and the int8 one gets a "1"
    appended: RESHAPE's int8 "PartitionedCall:01" before the DEQUANTIZE to
    "PartitionedCall:0" (seen here with TF 2.21).
    """
    if layer in names:
        return layer
    if layer.endswith("1") and layer[:-1] in names:
        return layer[:-1]
    raise StageError(f"no op writes {layer!r} in this model; float_layers name op outputs")


def _ops(flatbuffer: bytes) -> list[tuple[str, str, tuple[str, ...]]]:
    """(op, output tensor name, input tensor names) of each op, in order."""
    from ai_edge_litert import interpreter as litert

    interpreter: Any = litert.Interpreter(model_content=flatbuffer)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    return [
        (op["op_name"], names[op["outputs"][0]], tuple(names[i] for i in op["inputs"] if i >= 0))
        for op in interpreter._get_ops_details()
        if len(op["outputs"])
    ]


def _closure(
    ops: list[tuple[str, str, tuple[str, ...]]], float_layers: tuple[str, ...]
) -> list[str]:
    """``float_layers`` and the pass-through ops that read only from float ones."""
    kept = list(float_layers)
    floating = set(float_layers)
    for op, name, inputs in ops:
        if op in _PASS_THROUGH and name not in floating and inputs and inputs[0] in floating:
            kept.append(name)
            floating.add(name)
    return kept


def quantized_layers(recipe: Recipe, path: Path) -> tuple[QuantizedLayer, ...]:
    """The ops of a full-int8 variant whose outputs are integer, named by their output tensors."""
    step = recipe.step_of(Quantize)
    if step is None or step.ops != "int8":
        return ()
    from ai_edge_litert import interpreter as litert

    interpreter: Any = litert.Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    layers = []
    for op in interpreter._get_ops_details():
        if op["op_name"] in _NOT_LAYERS or not len(op["outputs"]):
            continue
        tensor = tensors[op["outputs"][0]]
        if tensor["dtype"].__name__ in ("int8", "uint8", "int16"):
            layers.append(QuantizedLayer(name=tensor["name"], op=op["op_name"]))
    return tuple(layers)
