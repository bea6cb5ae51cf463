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

from edgeops.plugin import Recipe, SampleSet, StageError, StepConfig, quiet, sample_feeds

from .layout import IoLayout

FORMAT = "tflite"
SAVED_MODEL_DIR = "saved_model"


class Quantize(StepConfig):
    """One run of tf.lite.TFLiteConverter on the kept SavedModel, with these options."""

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


def recipes_for(tflite_path: Path) -> tuple[Recipe, ...]:
    return RECIPES if saved_model_of(tflite_path) is not None else (AS_IS,)


def apply(recipe: Recipe, artifact_path: Path, out: Path, samples: SampleSet) -> None:
    """Write ``recipe``'s variant of the artifact at ``artifact_path`` to ``out``."""
    layout = IoLayout.load(artifact_path)
    if not recipe.steps:
        shutil.copyfile(artifact_path, out)
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
