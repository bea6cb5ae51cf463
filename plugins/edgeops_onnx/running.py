"""Running ONNX models and their PyTorch sources on the samples, on this host."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgeops.plugin import ModelError, ModelSpec, SampleSet, sample_feeds

if TYPE_CHECKING:
    import numpy as np


def run_onnx(path: Path, samples: SampleSet) -> tuple[tuple[str, ...], list[list[np.ndarray]]]:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(
            f"onnxruntime cannot load {path.name}: {' '.join(str(exc).split())[:300]}"
        ) from exc
    names = tuple(o.name for o in session.get_outputs())
    # A variant made with float16 inputs (onnx:float16 keep_io_types=false) takes
    # the same samples in half precision, as an app feeding it would.
    wanted = {i.name: _FLOAT_INPUTS.get(i.type) for i in session.get_inputs()}
    outputs = []
    for feed in sample_feeds(samples):
        fed = {
            k: v.astype(wanted[k]) if wanted[k] and v.dtype.kind == "f" else v
            for k, v in feed.items()
            if k in wanted
        }
        outputs.append(list(session.run(None, fed)))
    return names, outputs


_FLOAT_INPUTS = {"tensor(float16)": "float16", "tensor(float)": "float32"}


def run_torch(net: object, spec: ModelSpec, samples: SampleSet) -> list[list[np.ndarray]]:
    import torch

    outputs = []
    with torch.no_grad():
        for feed in sample_feeds(samples):
            args = [torch.from_numpy(feed[i.name]) for i in spec.inputs]
            result = net(*args)  # type: ignore[operator]
            flat = result if isinstance(result, (tuple, list)) else (result,)
            outputs.append([t.detach().cpu().numpy() for t in flat])
    return outputs
