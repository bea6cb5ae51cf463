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
    wanted = {i.name for i in session.get_inputs()}
    outputs = []
    for feed in sample_feeds(samples):
        outputs.append(list(session.run(None, {k: v for k, v in feed.items() if k in wanted})))
    return names, outputs


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
