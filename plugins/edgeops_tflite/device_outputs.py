"""A TFLite variant's outputs computed on a device, read back into the source's layout.

A phone's session runs one inference on raw input bytes and hands back the raw
bytes of the outputs (``tensor_outputs``: LiteRT's benchmark_model on adb). This
module makes those bytes from a sample, as the host's interpreter is fed (the
sidecar layout, the graph's input order), and reads the answer back with the
dtypes and shapes this host read from the same file, in the source's order and
layout, so it is scored against the reference like the host's outputs. A board
with Python gets the same samples, in the model's layout and keyed by its tensor
names, through the probe's ``--outputs`` mode (``on_board``).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import (
    Backend,
    BuildContext,
    DeviceError,
    ModelError,
    SampleSet,
    Session,
    sample_feeds,
    sha256_file,
)

from .layout import IoLayout, identity
from .running import TfliteModel

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class GraphTensor:
    """One input or output as the graph orders it; ``key`` is the name the host's feeds
    and outputs use (the signature's name where the model has one)."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    tensor: str = ""  # the tensor's own name: the probe's interpreter feeds and answers by it

    @property
    def nbytes(self) -> int:
        import numpy as np

        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


def graph_io(model: TfliteModel) -> tuple[list[GraphTensor], list[GraphTensor]]:
    """The model's inputs and outputs in the graph's order, which is the order
    benchmark_model reads its input files and writes its outputs in."""
    import numpy as np

    interpreter = model.interpreter
    names_in: dict[int, str] = {}
    names_out: dict[int, str] = {}
    signatures = interpreter.get_signature_list()
    if signatures:
        key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        runner = interpreter.get_signature_runner(key)
        names_in = {d["index"]: n for n, d in runner.get_input_details().items()}
        names_out = {d["index"]: n for n, d in runner.get_output_details().items()}

    def tensors(details: list[dict[str, Any]], names: dict[int, str]) -> list[GraphTensor]:
        out = []
        for d in details:
            dtype = np.dtype(d["dtype"])
            if dtype.kind in "OSU":
                raise ModelError(f"{model.path.name} has a string tensor {d['name']!r}: "
                                 "its raw bytes cannot be read back from a device")  # fmt: skip
            shape = tuple(int(x) for x in d["shape"])
            key = names.get(d["index"], d["name"])
            out.append(GraphTensor(key, shape, dtype.name, tensor=d["name"]))
        return out

    return (
        tensors(interpreter.get_input_details(), names_in),
        tensors(interpreter.get_output_details(), names_out),
    )


def loaded(
    path: Path, samples: SampleSet, count: int
) -> tuple[list[GraphTensor], list[GraphTensor], list[dict[str, np.ndarray]], IoLayout]:
    """The model's graph inputs and outputs, the first ``count`` samples as the model takes
    them (its layout, checked against its dtypes and shapes), and the layout."""
    import numpy as np

    try:
        model = TfliteModel(path)
    except ModelError:
        model = TfliteModel(path, xnnpack=False)  # as the host's quality run does
    inputs, outputs = graph_io(model)
    feeds = sample_feeds(samples)[:count]
    layout = IoLayout.load(path) or identity(
        list(feeds[0]) if feeds else [], [i.name for i in model.inputs], model.output_names
    )
    fed = []
    for i, feed in enumerate(feeds):
        tflite_feed = layout.to_tflite(feed)
        for t in inputs:
            array = np.ascontiguousarray(tflite_feed[t.key])
            if array.dtype.name != t.dtype or array.shape != t.shape:
                raise ModelError(
                    f"sample {i}'s {t.key} is {array.dtype.name}{list(array.shape)}, the model "
                    f"takes {t.dtype}{list(t.shape)}"
                )
            tflite_feed[t.key] = array
        fed.append(tflite_feed)
    return inputs, outputs, fed, layout


def on_board(
    backend: Backend, session: Session, path: Path, remote_model: str, compute_unit: str,
    context: BuildContext,
) -> list[list[np.ndarray]]:  # fmt: skip
    """The first samples' outputs from the probe's TFLite interpreter on a board with
    Python, fed in the model's layout by tensor name, read back in the source's."""
    import numpy as np

    assert context.samples is not None
    count = context.device_output_settings.samples
    inputs, outputs, fed, layout = loaded(path, context.samples, count)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "tflite-samples.npz"
        arrays = {f"{t.tensor}/{i}": feed[t.key] for i, feed in enumerate(fed) for t in inputs}
        np.savez(local, **arrays)  # type: ignore[arg-type]
        samples = SampleSet(
            path=local, sha256=sha256_file(local), count=len(fed), synthetic=True,
            origin="the run's samples in the TFLite model's layout",
        )  # fmt: skip
        rows = backend.probe_outputs(
            session, remote_model, compute_unit, context.model_copy(update={"samples": samples})
        )
    # The probe answers in the interpreter's output order, which is the graph's.
    return [
        layout.from_tflite({o.key: a for o, a in zip(outputs, row, strict=True)}) for row in rows
    ]


def on_phone(
    run: Any,
    path: Path,
    remote_model: str,
    compute_unit: str,
    samples: SampleSet,
    count: int,
    timeout_s: float,
) -> list[list[np.ndarray]]:
    """The outputs of the first ``count`` samples, each one inference by ``run`` (a
    session's ``tensor_outputs``) on the device, in the source's order and layout."""
    import numpy as np

    inputs, outputs, fed, layout = loaded(path, samples, count)
    output_bytes = sum(o.nbytes for o in outputs)
    deadline = time.monotonic() + timeout_s
    results = []
    for i, feed in enumerate(fed):
        raw_inputs = [(t.shape, feed[t.key].tobytes()) for t in inputs]
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise DeviceError(f"the device's outputs took over {timeout_s:g} s ({i} samples)")
        raw = run(remote_model, compute_unit, raw_inputs, output_bytes, remaining_s)
        arrays, offset = {}, 0
        for o in outputs:
            flat = np.frombuffer(raw, dtype=o.dtype, count=math.prod(o.shape), offset=offset)
            arrays[o.key] = flat.reshape(o.shape).copy()
            offset += o.nbytes
        results.append(layout.from_tflite(arrays))
    return results
