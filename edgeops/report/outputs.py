"""Per-sample scores of a variant's outputs, and which of them to keep.

A variant's outputs on every sample come from ``edgeops_evaluate`` (written to
``outputs.npz`` by ``compare_with_reference(keep=...)``). Each sample is scored
alone with the same ``edgeops.quality.compare`` as the aggregate figure, so "the
worst sample by iou" means what the quality floor means. The cache entry keeps
the outputs of the first ``keep`` samples and of the ``worst_k`` worst ones, so
the gallery can always show the worst.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.files import sha256_file, write_bytes
from edgeops.models import ModelSpec, ReferenceOutputs, VariantOutputs
from edgeops.options.declare import default_of
from edgeops.options.ship import ShipOptions
from edgeops.quality import HIGHER_IS_BETTER, OUTPUTS_FILE, compare, segmentation_labels

if TYPE_CHECKING:
    import numpy as np

# Declared once, with what they mean, as ship's keep_outputs and gallery_worst.
DEFAULT_KEEP = default_of(ShipOptions, "keep_outputs")
LABEL_KEY = "label"
# In the cache key of kept outputs: a change to what the .npz holds makes them anew.
OUTPUTS_FORMAT = 2
DEFAULT_WORST_K = default_of(ShipOptions, "gallery_worst")


def labels_by_sample(arrays: dict[str, Any]) -> dict[int, Any]:
    """``{sample index: label}`` from the ``'label/<i>'`` entries of an outputs .npz."""
    prefix = f"{LABEL_KEY}/"
    return {int(k[len(prefix) :]): a for k, a in arrays.items() if k.startswith(prefix)}


def outputs_by_sample(arrays: dict[str, Any], outputs: int) -> dict[int, list[np.ndarray]]:
    """``{sample index: [output 0, output 1, ...]}`` from an .npz keyed ``'<k>/<i>'``."""
    found: dict[int, dict[int, Any]] = {}
    for key, array in arrays.items():
        k, i = key.split("/", 1)
        if k.isdigit():  # not a LABEL_KEY entry
            found.setdefault(int(i), {})[int(k)] = array
    return {
        i: [per[k] for k in range(outputs)]
        for i, per in sorted(found.items())
        if len(per) >= outputs
    }


def ranking_metric(spec: ModelSpec, sample_metrics: dict[str, float]) -> str:
    """The spec's metric when a single sample yields it, else SNR (always computed)."""
    return spec.quality.metric if spec.quality.metric in sample_metrics else "snr_db"


def score_outputs(
    variant_id: str,
    spec: ModelSpec,
    reference: ReferenceOutputs,
    outputs_dir: Path,
    keep: int = DEFAULT_KEEP,
    worst_k: int = DEFAULT_WORST_K,
    labels: list[np.ndarray] | None = None,
) -> VariantOutputs:
    """Score every sample of ``outputs_dir/outputs.npz``; trim the file to what is kept."""
    import numpy as np

    from edgeops.pipeline.samples import load_arrays

    n_out = len(reference.output_names)
    ref = outputs_by_sample(load_arrays(reference.path), n_out)
    out = outputs_by_sample(load_arrays(outputs_dir / OUTPUTS_FILE), n_out)
    indices = [i for i in sorted(out) if i in ref]
    scores = [compare(spec.task, [ref[i]], [out[i]]).metrics for i in indices]
    metric = ranking_metric(spec, scores[0]) if scores else spec.quality.metric
    higher = HIGHER_IS_BETTER.get(metric, spec.quality.higher_is_better)
    per_sample = tuple(_finite(s[metric]) for s in scores)
    worst = _worst(indices, per_sample, higher, worst_k)

    label_metric: str | None = None
    per_label: tuple[float, ...] = ()
    worst_labels: tuple[int, ...] = ()
    if labels is not None and spec.task in {"segmentation", "classification"}:
        label_metric, per_label = _against_labels(spec, [out[i][0] for i in indices], labels)
        worst_labels = _worst(indices, per_label, True, worst_k)

    kept = sorted({*indices[:keep], *worst, *worst_labels})
    buffer = io.BytesIO()
    arrays = {f"{k}/{i}": out[i][k] for i in kept for k in range(n_out)}
    if labels is not None:
        # The kept samples' labels travel with the outputs, so the gallery shows them
        # without calling the labels' factory again (which may import torch).
        arrays |= {f"{LABEL_KEY}/{i}": np.asarray(labels[i]) for i in kept if i < len(labels)}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path = outputs_dir / OUTPUTS_FILE
    write_bytes(path, buffer.getvalue())
    return VariantOutputs(
        variant_id=variant_id,
        path=path,
        sha256=sha256_file(path),
        kept=tuple(kept),
        metric=metric,
        higher_is_better=higher,
        per_sample=per_sample,
        worst=worst,
        label_metric=label_metric,
        per_sample_labels=per_label,
        worst_labels=worst_labels,
    )


def _against_labels(
    spec: ModelSpec, firsts: list[np.ndarray], labels: list[np.ndarray]
) -> tuple[str, tuple[float, ...]]:
    """Per-sample agreement with ground truth: IoU of the mask, or top-1 hit."""
    import numpy as np

    from edgeops.quality import iou

    values = []
    for output, label in zip(firsts, labels, strict=False):
        if spec.task == "segmentation":
            predicted = segmentation_labels(output)
            truth = np.asarray(label).astype(np.int64).reshape(predicted.shape)
            values.append(iou(truth, predicted))
        else:
            values.append(
                float(int(np.argmax(output.reshape(-1))) == int(np.asarray(label).reshape(-1)[0]))
            )
    return ("iou" if spec.task == "segmentation" else "top1_accuracy"), tuple(values)


def _worst(indices: list[int], values: tuple[float, ...], higher: bool, k: int) -> tuple[int, ...]:
    order = sorted(
        range(len(values)), key=lambda j: (values[j] if higher else -values[j], indices[j])
    )
    return tuple(indices[j] for j in order[:k])


def _finite(value: float) -> float:
    # JSON has no NaN; a sample with no foreground in either mask scores as agreeing.
    return 1.0 if math.isnan(value) else float(value)
