"""Quality metrics of a variant's outputs against the reference outputs.

One implementation for every backend, so "iou" means the same for ONNX,
TFLite and Core ML variants. The task chooses the metrics:

- segmentation: ``iou`` (foreground IoU for a one-channel mask, mean IoU over
  the classes present otherwise) and ``pixel_agreement``;
- classification: ``top1_agreement``;
- every task also gets ``snr_db`` and ``cosine`` over all outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edgeops.models import Quality, ReferenceOutputs, Task

if TYPE_CHECKING:
    import numpy as np

# Identical outputs have infinite SNR; JSON has no infinity, so cap it. 200 dB is
# far above any real variant (fp16 rounding is ~75 dB, conversion-notes.md).
MAX_SNR_DB = 200.0

HIGHER_IS_BETTER = {
    "iou": True,
    "pixel_agreement": True,
    "top1_agreement": True,
    "snr_db": True,
    "cosine": True,
}

DEFAULT_FLOORS: dict[str, tuple[str, float]] = {
    "segmentation": ("iou", 0.9),
    "classification": ("top1_agreement", 0.95),
    "image-to-image": ("snr_db", 30.0),
    "generic": ("snr_db", 30.0),
}

# The metrics ``compare`` computes per task, besides snr_db and cosine for every task.
_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "segmentation": ("iou", "pixel_agreement"),
    "classification": ("top1_agreement",),
}


def metrics_of_task(task: Task) -> tuple[str, ...]:
    """Every metric name ``compare`` reports for ``task``: what a quality floor may name."""
    return (*_TASK_METRICS.get(task, ()), "snr_db", "cosine")


def compare(
    task: Task,
    reference: Sequence[Sequence[np.ndarray]],
    outputs: Sequence[Sequence[np.ndarray]],
    where: Literal["host", "host-estimate", "device"] = "host",
) -> Quality:
    """``reference[i][k]`` and ``outputs[i][k]``: output k on sample i."""
    import numpy as np

    if len(reference) != len(outputs):
        raise ValueError(f"{len(outputs)} output sets for {len(reference)} reference sets")
    ref_flat = np.concatenate([np.asarray(a, np.float64).ravel() for r in reference for a in r])
    out_flat = np.concatenate([np.asarray(a, np.float64).ravel() for r in outputs for a in r])
    if ref_flat.shape != out_flat.shape:
        raise ValueError(f"output sizes differ: {out_flat.shape} vs reference {ref_flat.shape}")
    metrics = {"snr_db": snr_db(ref_flat, out_flat), "cosine": cosine(ref_flat, out_flat)}
    firsts_ref = [np.asarray(r[0]) for r in reference]
    firsts_out = [np.asarray(o[0]) for o in outputs]
    if task == "segmentation":
        ref_labels = [segmentation_labels(a) for a in firsts_ref]
        out_labels = [
            segmentation_labels(a, like=r) for a, r in zip(firsts_out, firsts_ref, strict=True)
        ]
        metrics["iou"] = _mean(iou(r, o) for r, o in zip(ref_labels, out_labels, strict=True))
        metrics["pixel_agreement"] = _mean(
            float(np.mean(r == o)) for r, o in zip(ref_labels, out_labels, strict=True)
        )
    elif task == "classification":
        metrics["top1_agreement"] = _mean(
            float(
                np.mean(
                    np.argmax(r.reshape(r.shape[0], -1), -1)
                    == np.argmax(o.reshape(o.shape[0], -1), -1)
                )
            )
            for r, o in zip(firsts_ref, firsts_out, strict=True)
        )
    return Quality(
        metrics={k: round(float(v), 6) for k, v in metrics.items()},
        higher_is_better={k: HIGHER_IS_BETTER[k] for k in metrics},
        where=where,
        sample_count=len(reference),
    )


def compare_with_reference(
    task: Task,
    reference: ReferenceOutputs,
    outputs: Sequence[Sequence[np.ndarray]],
    where: Literal["host", "host-estimate", "device"] = "host",
    keep: Path | None = None,
) -> Quality:
    """``compare`` against the reference outputs file; ``outputs[i][k]`` is output k on sample i.

    With ``keep`` (the ``outputs_dir`` of ``edgeops_evaluate``) the outputs are also
    written there as ``outputs.npz``, keyed like the reference, for the report.
    """
    from edgeops.pipeline.samples import load_arrays

    if keep is not None:
        keep_outputs(keep, outputs)

    arrays = load_arrays(reference.path)
    expected = [
        [arrays[f"{k}/{i}"] for k in range(len(reference.output_names))]
        for i in range(len(outputs))
    ]
    return compare(task, expected, outputs, where=where)


OUTPUTS_FILE = "outputs.npz"


def keep_outputs(folder: Path, outputs: Sequence[Sequence[np.ndarray]]) -> Path:
    """Write ``outputs[i][k]`` to ``folder/outputs.npz`` under keys ``'<k>/<i>'``, atomically."""
    import io

    import numpy as np

    from edgeops.files import write_bytes

    buffer = io.BytesIO()
    arrays = {
        f"{k}/{i}": np.asarray(a) for i, outs in enumerate(outputs) for k, a in enumerate(outs)
    }
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path = folder / OUTPUTS_FILE
    write_bytes(path, buffer.getvalue())
    return path


def snr_db(reference: np.ndarray, output: np.ndarray) -> float:
    import numpy as np

    noise = float(np.sum((reference - output) ** 2))
    signal = float(np.sum(reference**2))
    if not np.isfinite(noise):
        return -MAX_SNR_DB
    if noise == 0.0:
        return MAX_SNR_DB
    if signal == 0.0:
        return -MAX_SNR_DB
    return float(max(-MAX_SNR_DB, min(MAX_SNR_DB, 10.0 * np.log10(signal / noise))))


def cosine(reference: np.ndarray, output: np.ndarray) -> float:
    import numpy as np

    norm = float(np.linalg.norm(reference) * np.linalg.norm(output))
    if norm == 0.0 or not np.isfinite(norm):
        return 1.0 if np.array_equal(reference, output) else 0.0
    return float(np.dot(reference, output) / norm)


def channel_axis(shape: tuple[int, ...]) -> int | None:
    """Class axis of a segmentation output: NCHW or NHWC, told apart by size.

    Class counts are small and image sides large, so the smaller of axes 1 and 3
    is the class axis. A 3-D output already holds labels.
    """
    if len(shape) != 4:
        return None
    return 1 if shape[1] <= shape[3] else 3


def segmentation_labels(output: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel labels: argmax over classes, or a threshold for a one-channel mask."""
    import numpy as np

    template = output if like is None else like
    axis = channel_axis(template.shape)
    if axis is None:
        return np.asarray(output).astype(np.int64)
    if output.shape[axis] == 1:
        # Probabilities in [0, 1] threshold at 0.5, logits at 0; the reference decides
        # which, so a variant with slightly out-of-range values is judged the same way.
        ref = template
        threshold = 0.5 if float(np.min(ref)) >= 0.0 and float(np.max(ref)) <= 1.0 else 0.0
        return (np.take(output, 0, axis=axis) > threshold).astype(np.int64)
    return np.argmax(output, axis=axis)


def iou(ref_labels: np.ndarray, out_labels: np.ndarray) -> float:
    import numpy as np

    classes = np.union1d(np.unique(ref_labels), np.unique(out_labels))
    if classes.size <= 2 and set(classes.tolist()) <= {0, 1}:
        classes = np.array([1])  # a binary mask: the foreground is what matters
    scores = []
    for c in classes:
        r, o = ref_labels == c, out_labels == c
        union = np.logical_or(r, o).sum()
        if union == 0:
            continue
        scores.append(np.logical_and(r, o).sum() / union)
    return float(np.mean(scores)) if scores else 1.0


def _mean(values: object) -> float:
    items = list(values)  # type: ignore[call-overload]
    return float(sum(items) / len(items)) if items else float("nan")


def meets_floor(quality: Quality | None, metric: str, floor: float) -> tuple[bool, str | None]:
    """Whether ``quality`` meets ``floor``; when not, the reason in words."""
    if quality is None:
        return False, "no quality figure"
    if metric not in quality.metrics:
        return False, f"metric {metric!r} not computed (have {', '.join(sorted(quality.metrics))})"
    value = quality.metrics[metric]
    higher = quality.higher_is_better.get(metric, True)
    if (value >= floor) if higher else (value <= floor):
        return True, None
    return False, f"{metric} {value:.4g} {'<' if higher else '>'} floor {floor:g}"
