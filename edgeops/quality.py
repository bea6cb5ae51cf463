"""Quality metrics of a variant's outputs against the reference outputs.

One implementation for every backend, so "iou" means the same for ONNX,
TFLite and Core ML variants. The task chooses the metrics:

- segmentation: ``iou`` (foreground IoU for a one-channel mask, mean IoU over
  the classes present otherwise) and ``pixel_agreement``;
- classification: ``top1_agreement``;
- image-to-image: ``ssim`` and ``psnr_db`` of the first output (see ``ssim``);
- every task also gets ``snr_db`` and ``cosine`` over all outputs.

Before any variant is scored, the reference itself is checked: outputs that do
not change with the input (``input_dependence``) mean a dead model or a broken
export, and would make every variant look perfect.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edgeops.models import ModelSpec, Quality, QualitySpec, ReferenceOutputs, SampleSet, Task

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
    "ssim": True,
    "psnr_db": True,
    "top1_accuracy": True,
    "miou_labels": True,
}

# SSIM as Wang et al. 2004 (IEEE TIP 13(4)) define it and scikit-image computes it with
# gaussian_weights=True, use_sample_covariance=False: a Gaussian window of sigma 1.5
# truncated at 3.5 sigma (11 x 11), K1 = 0.01, K2 = 0.03, the mean over the pixels
# whose window lies inside the image.
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1, SSIM_K2 = 0.01, 0.03

# fp32 carries 24 bits (relative step 6e-8); outputs that vary less than this across
# different inputs are constant up to rounding (the dead segmenter varied by 4e-9).
CONSTANT_RELATIVE_SPREAD = 1e-6

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
    "image-to-image": ("ssim", "psnr_db"),
}
# Against ground truth, when the config gives labels (label_metrics).
_LABEL_METRICS: dict[str, tuple[str, ...]] = {
    "segmentation": ("miou_labels",),
    "classification": ("top1_accuracy",),
}


def metrics_of_task(task: Task, labels: bool = False) -> tuple[str, ...]:
    """Every metric name ``compare`` reports for ``task`` (with ``labels``, also those against
    the ground truth): what a quality floor may name."""
    with_labels = _LABEL_METRICS.get(task, ()) if labels else ()
    return (*_TASK_METRICS.get(task, ()), *with_labels, "snr_db", "cosine")


def compare(
    task: Task,
    reference: Sequence[Sequence[np.ndarray]],
    outputs: Sequence[Sequence[np.ndarray]],
    where: Literal["host", "host-estimate", "device"] = "host",
    labels: Sequence[np.ndarray] | None = None,
    quality_spec: QualitySpec | None = None,
) -> Quality:
    """``reference[i][k]`` and ``outputs[i][k]``: output k on sample i.

    With ``labels`` (ground truth per sample) the accuracy against them is added
    (``label_metrics``); with a ``quality_spec`` naming a user metric, that too.
    """
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
    elif task == "image-to-image":
        data_range = _data_range(firsts_ref)
        metrics["ssim"] = _mean(
            ssim(r, o, data_range) for r, o in zip(firsts_ref, firsts_out, strict=True)
        )
        metrics["psnr_db"] = psnr_db(np.stack(firsts_ref), np.stack(firsts_out), data_range)
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
    higher = {k: HIGHER_IS_BETTER[k] for k in metrics}
    if labels is not None:
        for name, value in label_metrics(task, firsts_out, labels).items():
            metrics[name], higher[name] = value, True
    if quality_spec is not None and quality_spec.user_metric is not None:
        name = quality_spec.metric
        metrics[name] = user_metric_value(quality_spec.user_metric, outputs, reference, labels)
        higher[name] = quality_spec.higher_is_better
    return Quality(
        metrics={k: round(float(v), 6) for k, v in metrics.items()},
        higher_is_better=higher,
        where=where,
        sample_count=len(reference),
    )


def label_metrics(
    task: Task, firsts: Sequence[np.ndarray], labels: Sequence[np.ndarray]
) -> dict[str, float]:
    """Accuracy of the first output against ground truth: top-1 or mIoU, by task.

    Classification labels are class indices (one per sample, or one per batch
    row); segmentation labels are per-pixel class maps of the output's spatial
    shape. Other tasks have no label metric here; a user metric covers them.
    """
    import numpy as np

    if len(labels) < len(firsts):
        raise ValueError(f"{len(labels)} labels for {len(firsts)} samples; give one per sample")
    if task == "classification":
        hits = [
            np.argmax(o.reshape(o.shape[0], -1), -1) == np.asarray(y).reshape(-1)
            for o, y in zip(firsts, labels, strict=False)
        ]
        return {"top1_accuracy": float(np.mean(np.concatenate(hits)))}
    if task == "segmentation":
        scores = []
        for output, label in zip(firsts, labels, strict=False):
            predicted = segmentation_labels(output)
            truth = np.asarray(label).astype(np.int64)
            if truth.size != predicted.size and truth.ndim >= 2:
                # Labels drawn at another resolution (a resolution sweep): nearest, as samples.
                from edgeops.sample_files import resize_nearest

                truth = truth.reshape(truth.shape[-2:])
                truth = resize_nearest(truth, (0, 1), predicted.shape[-2:])
            truth = truth.reshape(predicted.shape)
            scores.append(iou(truth, predicted))
        return {"miou_labels": _mean(scores)}
    return {}


def user_metric_value(
    source: str,
    outputs: Sequence[Sequence[np.ndarray]],
    reference: Sequence[Sequence[np.ndarray]],
    labels: Sequence[np.ndarray] | None,
) -> float:
    """Call the user's ``file.py:function(outputs, reference, labels)``; it returns one number."""
    import math

    from edgeops.errors import ModelError
    from edgeops.pipeline.factories import import_factory

    function = import_factory(source, ModelError, "metric")
    value = function([list(o) for o in outputs], [list(r) for r in reference], labels)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ModelError(
            f"metric {source} returned {type(value).__name__}, not a number; return one float"
        ) from None
    if not math.isfinite(number):
        raise ModelError(f"metric {source} returned {number}; return a finite number")
    return number


def compare_with_reference(
    task: Task | ModelSpec,
    reference: ReferenceOutputs,
    outputs: Sequence[Sequence[np.ndarray]],
    where: Literal["host", "host-estimate", "device"] = "host",
    keep: Path | None = None,
) -> Quality:
    """``compare`` against the reference outputs file; ``outputs[i][k]`` is output k on sample i.

    Given the whole ``ModelSpec``, its labels and user metric are scored too. With
    ``keep`` (the ``outputs_dir`` of ``edgeops_evaluate``) the outputs are also
    written there as ``outputs.npz``, keyed like the reference, for the report.
    """
    from edgeops.sample_files import load_arrays, load_labels

    if keep is not None:
        keep_outputs(keep, outputs)

    arrays = load_arrays(reference.path)
    expected = [
        [arrays[f"{k}/{i}"] for k in range(len(reference.output_names))]
        for i in range(len(outputs))
    ]
    if isinstance(task, ModelSpec):
        spec = task
        labels = load_labels(spec, len(outputs)) if spec.labels else None
        return compare(
            spec.task, expected, outputs, where=where, labels=labels, quality_spec=spec.quality
        )
    return compare(task, expected, outputs, where=where)


def reference_label_metrics(spec: ModelSpec, reference: ReferenceOutputs) -> dict[str, float]:
    """The reference model's own accuracy against the labels, and its user metric."""
    from edgeops.sample_files import load_arrays, load_labels

    if not spec.labels and spec.quality.user_metric is None:
        return {}
    arrays = load_arrays(reference.path)
    count = len({key.rsplit("/", 1)[1] for key in arrays})
    outputs = [
        [arrays[f"{k}/{i}"] for k in range(len(reference.output_names))] for i in range(count)
    ]
    labels = load_labels(spec, count) if spec.labels else None
    quality = compare(spec.task, outputs, outputs, labels=labels, quality_spec=spec.quality)
    names = {
        "top1_accuracy",
        "miou_labels",
        spec.quality.metric if spec.quality.user_metric else "",
    }
    return {k: v for k, v in quality.metrics.items() if k in names}


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


def _data_range(references: Sequence[np.ndarray]) -> float:
    """The reference outputs' own span (max - min over every sample), the L of SSIM and PSNR.

    Taken from the reference, not assumed: a [0, 1] image and a [0, 255] one
    both get their real range, and every variant is scored on the same one.
    """
    import numpy as np

    low = min(float(np.min(r)) for r in references)
    high = max(float(np.max(r)) for r in references)
    return high - low if high > low else 1.0


def psnr_db(reference: np.ndarray, output: np.ndarray, data_range: float) -> float:
    """10 log10(L^2 / MSE), L the data range; capped like ``snr_db``."""
    import numpy as np

    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(output, np.float64)) ** 2))
    if not np.isfinite(mse):
        return -MAX_SNR_DB
    if mse == 0.0:
        return MAX_SNR_DB
    return float(max(-MAX_SNR_DB, min(MAX_SNR_DB, 10.0 * np.log10(data_range**2 / mse))))


def ssim(reference: np.ndarray, output: np.ndarray, data_range: float) -> float:
    """Mean SSIM of one output against its reference, over channels (constants above).

    The spatial axes are the last two of a 2-D or 3-D array, and the two beside
    the channel axis (``channel_axis``) of a 4-D one; every other axis is a
    channel or batch, each plane scored alone and the scores averaged.
    """
    import numpy as np

    ref = np.asarray(reference, np.float64)
    out = np.asarray(output, np.float64)
    if ref.shape != out.shape:
        raise ValueError(f"SSIM needs equal shapes: {out.shape} vs reference {ref.shape}")
    axis = channel_axis(ref.shape)
    if axis == 3:  # NHWC: bring the channels before the spatial axes
        ref, out = np.moveaxis(ref, 3, 1), np.moveaxis(out, 3, 1)
    if ref.ndim < 2:
        raise ValueError(f"SSIM needs an image, not shape {ref.shape}")
    planes_ref = ref.reshape(-1, *ref.shape[-2:])
    planes_out = out.reshape(-1, *out.shape[-2:])
    return _mean(_ssim_plane(r, o, data_range) for r, o in zip(planes_ref, planes_out, strict=True))


def _gaussian_filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, 'valid' part only: the pixels whose window fits inside."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(image, kernel.size, axis=1) @ kernel
    return sliding_window_view(rows, kernel.size, axis=0) @ kernel


def _ssim_plane(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    import numpy as np

    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(x.shape) < 2 * radius + 1:
        raise ValueError(
            f"SSIM needs images of at least {2 * radius + 1} x {2 * radius + 1} pixels, "
            f"not {x.shape[0]} x {x.shape[1]}"
        )
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    kernel /= kernel.sum()
    mu_x, mu_y = _gaussian_filter_valid(x, kernel), _gaussian_filter_valid(y, kernel)
    var_x = _gaussian_filter_valid(x * x, kernel) - mu_x**2
    var_y = _gaussian_filter_valid(y * y, kernel) - mu_y**2
    cov = _gaussian_filter_valid(x * y, kernel) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(np.mean(index))


def input_dependence(reference: Sequence[Sequence[np.ndarray]]) -> float:
    """How much the reference's outputs change across samples, relative to their size.

    The largest spread (max - min across samples, element by element) over every
    output, divided by the outputs' largest magnitude. 0 for a model whose output
    ignores its input. Needs two samples or more.
    """
    import numpy as np

    spread, scale = 0.0, 0.0
    for k in range(len(reference[0])):
        stacked = np.stack([np.asarray(r[k], np.float64) for r in reference])
        spread = max(spread, float(np.max(np.ptp(stacked, axis=0))) if stacked.size else 0.0)
        scale = max(scale, float(np.max(np.abs(stacked))) if stacked.size else 0.0)
    return spread / scale if scale > 0 else 0.0


def dead_reference(reference: ReferenceOutputs, samples: SampleSet) -> str | None:
    """Why the reference cannot be scored against, or None: its outputs ignore the input.

    Only samples that differ from one another can show it, so identical or
    single samples pass unchecked.
    """
    import numpy as np

    from edgeops.sample_files import load_arrays, sample_feeds

    feeds = sample_feeds(samples)
    if len(feeds) < 2 or all(
        all(np.array_equal(feeds[0][name], feed[name]) for name in feeds[0]) for feed in feeds[1:]
    ):
        return None
    arrays = load_arrays(reference.path)
    outputs = [
        [arrays[f"{k}/{i}"] for k in range(len(reference.output_names))] for i in range(len(feeds))
    ]
    if samples.synthetic and all(
        np.issubdtype(np.asarray(o).dtype, np.integer) for o in outputs[0]
    ):
        # Class indices (an ArgMax) on random inputs may all be one class, background,
        # in a sound model (Coral's DeepLabV3): only real samples can tell.
        return None
    dependence = input_dependence(outputs)
    if dependence >= CONSTANT_RELATIVE_SPREAD:
        return None
    return (
        f"the reference model's outputs do not depend on its input (they vary by "
        f"{dependence:.1e} of their size across {len(feeds)} different samples): a dead model "
        "or a broken export would score every variant as perfect; check the source model "
        "and its export"
    )


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


def meets_floor(
    quality: Quality | None, metric: str, floor: float, higher_is_better: bool | None = None
) -> tuple[bool, str | None]:
    """Whether ``quality`` meets ``floor``; when not, the reason in words."""
    if quality is None:
        return False, "no quality figure"
    if metric not in quality.metrics:
        return False, f"metric {metric!r} not computed (have {', '.join(sorted(quality.metrics))})"
    value = quality.metrics[metric]
    higher = quality.higher_is_better.get(
        metric, True if higher_is_better is None else higher_is_better
    )
    if (value >= floor) if higher else (value <= floor):
        return True, None
    return False, f"{metric} {value:.4g} {'<' if higher else '>'} floor {floor:g}"


def meets_floors(quality: Quality | None, spec: QualitySpec) -> tuple[bool, list[str]]:
    """Whether ``quality`` meets every floor of ``spec``; when not, each failure in words.

    Every floor counts: a W8A8 segmenter with IoU 0.922 but SNR 6.5 dB fails
    ``snr_db >= 20`` even though it passes ``iou >= 0.9``.
    """
    reasons = []
    for floor in spec.all_floors():
        ok, why = meets_floor(quality, floor.metric, floor.floor, floor.higher_is_better)
        if not ok and why:
            reasons.append(why)
    return not reasons, reasons


def floors_text(spec: QualitySpec) -> str:
    return ", ".join(
        f"{f.metric} {'≥' if f.higher_is_better else '≤'} {f.floor:g}" for f in spec.all_floors()
    )
