"""Running .tflite models on this host with the light interpreter, and TF sources for references.

The interpreter is ai-edge-litert's (38 MB resident), never tf.lite.Interpreter,
which holds about 750 MB and is deprecated (conversion-notes.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import InputSpec, ModelError, SampleSet, quiet, sample_feeds

from .layout import IoLayout, identity

if TYPE_CHECKING:
    import numpy as np

_CUSTOM_OP = re.compile(r"unresolved custom op: ([^\s.]+(?:\.[^\s.]+)*?)\.?\s")
# Integer inputs are images or tokens; their samples should span the type, not 0..1.
_INTEGER_RANGES = {"uint8": (0.0, 255.0), "int8": (-128.0, 127.0)}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str


class TfliteModel:
    """One loaded .tflite: named inputs and outputs, through its signature when it has one."""

    def __init__(self, path: Path, threads: int | None = None, xnnpack: bool = True) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        # XNNPACK is TFLite's default CPU delegate; it also implements MediaPipe's
        # custom ops (Convolution2DTransposeBias), so models using them load only with it.
        resolver = (
            OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self.path = path
        try:
            # quiet: the runtime prints "Created TensorFlow Lite XNNPACK delegate" on every load.
            with quiet():
                self.interpreter = Interpreter(
                    model_path=str(path),
                    num_threads=threads,
                    experimental_op_resolver_type=resolver,
                )
                self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(load_error_message(path, exc)) from exc
        signatures = self.interpreter.get_signature_list()
        self._runner: Any = None
        if signatures:
            key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            self._runner = self.interpreter.get_signature_runner(key)
            details = self._runner.get_input_details()
            self.inputs = tuple(_info(name, details[name]) for name in signatures[key]["inputs"])
            self.output_names = tuple(sorted(signatures[key]["outputs"], key=natural_key))
        else:
            self.inputs = tuple(_info(d["name"], d) for d in self.interpreter.get_input_details())
            self.output_names = tuple(d["name"] for d in self.interpreter.get_output_details())

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._runner is not None:
            return dict(self._runner(**feed))
        for detail in self.interpreter.get_input_details():
            self.interpreter.set_tensor(detail["index"], feed[detail["name"]])
        self.interpreter.invoke()
        return {
            d["name"]: self.interpreter.get_tensor(d["index"])
            for d in self.interpreter.get_output_details()
        }

    def input_specs(self) -> tuple[InputSpec, ...]:
        return tuple(
            InputSpec(
                name=i.name,
                shape=i.shape,
                dtype=i.dtype,
                layout="NHWC" if len(i.shape) == 4 else None,
                value_range=_INTEGER_RANGES.get(i.dtype, (0.0, 1.0)),
            )
            for i in self.inputs
        )


def load_error_message(path: Path, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    custom = _CUSTOM_OP.search(str(exc) + " ")
    if custom:
        return (
            f"{path.name} uses the custom op {custom.group(1)!r}, which this TFLite runtime does not "
            "have; re-convert the model with builtin ops only, or measure it with a runtime that "
            "registers that op"
        )
    return f"the TFLite interpreter cannot load {path.name} ({text[:300]}); re-convert the model"


def run_on_samples(
    path: Path, samples: SampleSet, threads: int | None = None
) -> list[list[np.ndarray]]:
    """Outputs of a .tflite on every sample, in the source's order and layout."""
    try:
        model = TfliteModel(path, threads=threads)
    except ModelError:
        # XNNPACK refuses some int8 graphs at prepare time ("failed to create XNNPACK
        # runtime"); quality is about numbers, so the builtin kernels score them.
        model = TfliteModel(path, threads=threads, xnnpack=False)
    feeds = sample_feeds(samples)
    layout = IoLayout.load(path) or identity(
        list(feeds[0]) if feeds else [], [i.name for i in model.inputs], model.output_names
    )
    return [layout.from_tflite(model.run(layout.to_tflite(feed))) for feed in feeds]


def _info(name: str, detail: dict[str, Any]) -> TensorInfo:
    import numpy as np

    # A dynamic dimension (-1 in shape_signature) is run at the size the
    # interpreter allocated, which is 1 for a batch.
    return TensorInfo(
        name=name,
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]).name,
    )


def natural_key(name: str) -> tuple[str, int]:
    """output_2 before output_10: TF names a signature's outputs output_<k> in model order."""
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, -1)
