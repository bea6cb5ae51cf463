"""How a TFLite model's inputs and outputs relate to its source's (NCHW versus NHWC).

onnx2tf turns every NCHW input of an ONNX model into NHWC, and its outputs too.
Samples and reference outputs stay in the source's layout, so each .tflite a
conversion makes carries a sidecar ``<model>.layout.json`` that says, for each
TFLite input and output, which source tensor it is and which axis permutation
maps between them. A model without a sidecar (a .tflite or Keras source) maps
one to one, in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgeops.plugin import write_text

if TYPE_CHECKING:
    import numpy as np

SIDECAR_SUFFIX = ".layout.json"


def channels_last(rank: int) -> tuple[int, ...]:
    """The permutation that takes N C D1..Dk to N D1..Dk C."""
    return (0, *range(2, rank), 1)


def inverse(perm: Sequence[int]) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


@dataclass(frozen=True)
class TensorMap:
    tflite: str
    source: str
    # Axes of the source tensor in TFLite order (np.transpose's argument), or None.
    perm: tuple[int, ...] | None = None


@dataclass(frozen=True)
class IoLayout:
    inputs: tuple[TensorMap, ...] = ()
    outputs: tuple[TensorMap, ...] = ()
    converter: str = "identity"
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def is_identity(self) -> bool:
        return all(m.perm is None for m in (*self.inputs, *self.outputs))

    def to_tflite(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A sample in source layout, keyed by source input names → the TFLite model's feed."""
        import numpy as np

        out = {}
        for m in self.inputs:
            array = feed[m.source]
            out[m.tflite] = np.ascontiguousarray(array.transpose(m.perm)) if m.perm else array
        return out

    def from_tflite(self, outputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The TFLite model's outputs → a list in the source's output order and layout."""
        import numpy as np

        return [
            np.ascontiguousarray(outputs[m.tflite].transpose(inverse(m.perm)))
            if m.perm
            else outputs[m.tflite]
            for m in self.outputs
        ]

    def save(self, model_path: Path) -> None:
        write_text(sidecar(model_path), json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, model_path: Path) -> IoLayout | None:
        path = sidecar(model_path)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(
            inputs=tuple(_tensor_map(m) for m in data["inputs"]),
            outputs=tuple(_tensor_map(m) for m in data["outputs"]),
            converter=data.get("converter", "identity"),
            notes=data.get("notes", {}),
        )


def identity(
    source_inputs: Sequence[str], tflite_inputs: Sequence[str], tflite_outputs: Sequence[str]
) -> IoLayout:
    """Inputs matched by name where names agree, else in order; outputs in order."""
    if set(source_inputs) != set(tflite_inputs):
        pairs = list(zip(tflite_inputs, source_inputs, strict=True))
    else:
        pairs = [(name, name) for name in tflite_inputs]
    return IoLayout(
        inputs=tuple(TensorMap(tflite=t, source=s) for t, s in pairs),
        outputs=tuple(TensorMap(tflite=t, source=t) for t in tflite_outputs),
    )


def _tensor_map(data: dict) -> TensorMap:
    perm = data.get("perm")
    return TensorMap(
        tflite=data["tflite"], source=data["source"], perm=tuple(perm) if perm else None
    )


def sidecar(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + SIDECAR_SUFFIX)
