"""The sample gallery: PNGs of inputs, reference and variant outputs, and differences.

Images by task (issue 16): masks for segmentation, images for image-to-image,
top-k labels with scores for classification; a generic task gets scores only.
Each variant shows its worst samples against the reference (and the labels,
when there are labels); a plan's chosen variants show every kept sample, so two
runs can be compared on the same samples. Everything is written under
``gallery/`` in the bundle with ``gallery.json`` describing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from edgeops.errors import EdgeopsError
from edgeops.files import read_regular
from edgeops.models import Frozen, InputSpec, Results, VariantOutputs
from edgeops.quality import segmentation_labels
from edgeops.report.outputs import labels_by_sample, outputs_by_sample
from edgeops.report.png import png_bytes

if TYPE_CHECKING:
    import numpy as np

GALLERY_DIR = "gallery"
INDEX_FILE = "gallery.json"
TOP_K_LABELS = 5
# The error, as a share of the reference's range, drawn at full yellow; half of it is red.
DIFF_FULL_SCALE = 0.1
# Shown no smaller than this many pixels a side; small inputs are scaled by whole
# factors so pixels stay sharp.
MIN_SIDE_PX = 128
# Class colours (Okabe & Ito's colour-blind-safe palette), class 0 black.
PALETTE = [
    (0, 0, 0),
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
]


class LabelScore(Frozen):
    label: int
    score: float


class SampleImages(Frozen):
    index: int
    input: str | None = Field(None, description="PNG path inside the bundle")
    reference: str | None = None
    label: str | None = Field(None, description="The ground truth, when the spec names labels")
    reference_top: tuple[LabelScore, ...] = ()


class VariantSample(Frozen):
    index: int
    score: float = Field(description="The ranking metric against the reference on this sample")
    label_score: float | None = None
    output: str | None = None
    diff: str | None = None
    top: tuple[LabelScore, ...] = ()


class DeviceSample(Frozen):
    """One sample's output as a device itself returned it (``Measurement.device_outputs``)."""

    device_id: str
    compute_unit: str
    index: int
    output: str | None = None
    diff: str | None = None
    top: tuple[LabelScore, ...] = ()


class GalleryVariant(Frozen):
    variant_id: str
    name: str
    chosen_for: tuple[str, ...] = Field((), description="Profiles whose plan chose it")
    metric: str
    higher_is_better: bool
    label_metric: str | None = None
    worst: tuple[int, ...]
    worst_labels: tuple[int, ...] = ()
    samples: tuple[VariantSample, ...]
    on_device: tuple[DeviceSample, ...] = Field(
        (), description="The first samples' outputs each device returned, beside the host's"
    )


class Gallery(Frozen):
    task: str
    samples_sha256: str | None
    kind: Literal["mask", "image", "labels", "none"]
    samples: tuple[SampleImages, ...]
    variants: tuple[GalleryVariant, ...]

    def sample(self, index: int) -> SampleImages | None:
        return next((s for s in self.samples if s.index == index), None)

    def files(self) -> set[str]:
        """Every file the gallery names: what a server may hand out."""
        found = {f for s in self.samples for f in (s.input, s.reference, s.label) if f}
        found |= {f for v in self.variants for s in v.samples for f in (s.output, s.diff) if f}
        found |= {f for v in self.variants for s in v.on_device for f in (s.output, s.diff) if f}
        return found


def write_gallery(results: Results, bundle: Path) -> Gallery | None:
    """Render the gallery into ``bundle/gallery/``; None when no outputs were kept."""
    if not results.outputs or results.reference is None or results.samples is None:
        return None
    from edgeops.pipeline.samples import load_arrays

    n_out = len(results.reference.output_names)
    try:
        reference = outputs_by_sample(load_arrays(results.reference.path), n_out)
        inputs = load_arrays(results.samples.path)
    except OSError as exc:
        # Paths into the cache are as ship saw them (relative to its folder when the
        # workspace is); a bundle is still whole without its gallery.
        _warn(f"no sample gallery: {exc.strerror}: {exc.filename}; run from the folder ship ran in")
        return None
    canvas = _Canvas(
        results=results,
        kind=_KINDS.get(results.spec.task, "none"),
        reference=reference,
        n_out=n_out,
        out_dir=bundle / GALLERY_DIR,
        bundle=bundle,
    )
    chosen: dict[str, list[str]] = {}
    for plan in results.plans:
        for c in plan.choices[:1]:
            chosen.setdefault(c.variant_id, []).append(plan.profile_id)
    variants = [
        drawn for kept in results.outputs if (drawn := _gallery_variant(canvas, kept, chosen))
    ]
    first_input = first_input_of(results)
    gallery = Gallery(
        task=results.spec.task,
        samples_sha256=results.samples.sha256,
        kind=canvas.kind,
        samples=tuple(_sample_images(canvas, i, inputs, first_input) for i in sorted(canvas.shown)),
        variants=tuple(variants),
    )
    put_file(canvas.out_dir / INDEX_FILE, (gallery.model_dump_json(indent=2) + "\n").encode())
    return gallery


GalleryKind = Literal["mask", "image", "labels", "none"]
_KINDS: dict[str, GalleryKind] = {
    "segmentation": "mask",
    "image-to-image": "image",
    "classification": "labels",
}


@dataclass
class _Canvas:
    """What every picture of one gallery is drawn from, and the samples drawn so far."""

    results: Results
    kind: GalleryKind
    reference: dict[int, Any]
    n_out: int
    out_dir: Path
    bundle: Path
    shown: set[int] = field(default_factory=set)
    labels: dict[int, Any] = field(default_factory=dict)


def _gallery_variant(
    canvas: _Canvas, kept: VariantOutputs, chosen: dict[str, list[str]]
) -> GalleryVariant | None:
    """One variant's worst samples (every kept one when a plan chose it), and its device's."""
    from edgeops.pipeline.samples import load_arrays

    try:
        variant = canvas.results.variant(kept.variant_id)
    except KeyError:
        return None
    try:
        arrays = load_arrays(kept.path)
    except OSError as exc:
        _warn(f"no gallery for {variant.name}: {exc.strerror}: {exc.filename}")
        return None
    outputs = outputs_by_sample(arrays, canvas.n_out)
    canvas.labels |= labels_by_sample(arrays)
    wanted = list(dict.fromkeys([*kept.worst, *kept.worst_labels]))
    if kept.variant_id in chosen:
        wanted += [i for i in kept.kept if i not in wanted]
    samples = []
    for index in wanted:
        if index not in outputs or index not in canvas.reference:
            continue
        canvas.shown.add(index)
        samples.append(
            _variant_sample(
                canvas.kind,
                kept,
                index,
                canvas.reference[index][0],
                outputs[index][0],
                canvas.out_dir,
                canvas.bundle,
            )
        )
    on_device = _device_samples(
        canvas.results,
        canvas.kind,
        variant.id,
        canvas.reference,
        canvas.n_out,
        canvas.out_dir,
        canvas.bundle,
    )
    canvas.shown |= {s.index for s in on_device}
    return GalleryVariant(
        variant_id=variant.id,
        name=variant.name,
        chosen_for=tuple(chosen.get(variant.id, ())),
        metric=kept.metric,
        higher_is_better=kept.higher_is_better,
        label_metric=kept.label_metric,
        worst=kept.worst,
        worst_labels=kept.worst_labels,
        samples=tuple(samples),
        on_device=on_device,
    )


def _sample_images(
    canvas: _Canvas, index: int, inputs: dict[str, Any], first_input: InputSpec | None
) -> SampleImages:
    """A shown sample's input, the reference's output and, for masks, its label."""
    import numpy as np

    out_dir, bundle, reference = canvas.out_dir, canvas.bundle, canvas.reference[index][0]
    image = None
    if first_input is not None:
        array = inputs.get(f"{first_input.name}/{index}")
        if array is not None:
            image = as_image(array, first_input.value_range)
    input_file = _write(out_dir / "input" / f"{index}.png", image, bundle)
    ref_file: str | None = None
    ref_top: tuple[LabelScore, ...] = ()
    if canvas.kind == "mask":
        ref_file = _write(out_dir / "reference" / f"{index}.png", mask_image(reference), bundle)
    elif canvas.kind == "image":
        ref_file = _write(
            out_dir / "reference" / f"{index}.png", as_image(reference, _range(reference)), bundle
        )
    elif canvas.kind == "labels":
        ref_top = top_labels(reference)
    label_file = None
    if canvas.kind == "mask" and index in canvas.labels:
        truth = np.asarray(canvas.labels[index]).astype(np.int64)
        label_file = _write(out_dir / "labels" / f"{index}.png", mask_image(truth), bundle)
    return SampleImages(
        index=index, input=input_file, reference=ref_file, label=label_file, reference_top=ref_top
    )


def first_input_of(results: Results) -> InputSpec | None:
    """The input the gallery shows: the spec's, else the model's own (a bare .onnx)."""
    inputs = results.spec.inputs or next(
        (a.inputs for a in results.artifacts if a.status == "ok" and a.inputs), ()
    )
    return inputs[0] if inputs else None


def _warn(message: str) -> None:
    import sys

    sys.stderr.write(f"edgeops: {message}\n")


def put_file(path: Path, data: bytes) -> None:
    """A file of the bundle being built: the bundle's folder is renamed into place whole
    (``staged_dir``), so a plain write is atomic enough and keeps the bundle's file modes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def read_gallery(bundle: Path) -> Gallery | None:
    path = bundle / GALLERY_DIR / INDEX_FILE
    if not path.exists():
        return None
    try:
        return Gallery.model_validate_json(read_regular(path, "gallery index", 64 * 2**20))
    except (EdgeopsError, ValueError):
        return None


def _variant_sample(
    kind: str,
    kept: VariantOutputs,
    index: int,
    reference: np.ndarray,
    output: np.ndarray,
    out_dir: Path,
    bundle: Path,
) -> VariantSample:
    # Every sample is scored, in order, so a sample's index is its position.
    score = kept.per_sample[index] if index < len(kept.per_sample) else float("nan")
    label_score = kept.per_sample_labels[index] if index < len(kept.per_sample_labels) else None
    folder = out_dir / kept.variant_id[:12]
    output_file = diff_file = None
    top: tuple[LabelScore, ...] = ()
    if kind == "mask":
        output_file = _write(folder / f"{index}.png", mask_image(output, like=reference), bundle)
        diff_file = _write(folder / f"{index}-diff.png", mask_diff(reference, output), bundle)
    elif kind == "image":
        value_range = _range(reference)
        output_file = _write(folder / f"{index}.png", as_image(output, value_range), bundle)
        diff_file = _write(folder / f"{index}-diff.png", image_diff(reference, output), bundle)
    elif kind == "labels":
        top = top_labels(output)
    return VariantSample(
        index=index,
        score=score,
        label_score=label_score,
        output=output_file,
        diff=diff_file,
        top=top,
    )


def _device_samples(
    results: Results,
    kind: str,
    variant_id: str,
    reference: dict[int, Any],
    n_out: int,
    out_dir: Path,
    bundle: Path,
) -> tuple[DeviceSample, ...]:
    """The outputs each device returned for ``variant_id`` (``Measurement.device_outputs``)."""
    from edgeops.pipeline.samples import load_arrays

    found: list[DeviceSample] = []
    for position, m in enumerate(results.measurements):
        if m.variant_id != variant_id or m.device_outputs is None:
            continue
        try:
            outputs = outputs_by_sample(load_arrays(m.device_outputs), n_out)
        except OSError as exc:
            _warn(f"no device outputs for {variant_id[:12]}: {exc.strerror}: {exc.filename}")
            continue
        # Files are named by position: a device's name comes from an inventory.
        folder = out_dir / variant_id[:12] / f"device-{position}"
        for index in sorted(outputs):
            if index not in reference:
                continue
            ref, output = reference[index][0], outputs[index][0]
            output_file = diff_file = None
            top: tuple[LabelScore, ...] = ()
            if kind == "mask":
                output_file = _write(folder / f"{index}.png", mask_image(output, like=ref), bundle)
                diff_file = _write(folder / f"{index}-diff.png", mask_diff(ref, output), bundle)
            elif kind == "image":
                output_file = _write(folder / f"{index}.png", as_image(output, _range(ref)), bundle)
                diff_file = _write(folder / f"{index}-diff.png", image_diff(ref, output), bundle)
            elif kind == "labels":
                top = top_labels(output)
            found.append(
                DeviceSample(
                    device_id=m.device_id,
                    compute_unit=m.compute_unit,
                    index=index,
                    output=output_file,
                    diff=diff_file,
                    top=top,
                )  # fmt: skip
            )
    return tuple(found)


def _write(path: Path, image: np.ndarray | None, bundle: Path) -> str | None:
    if image is None:
        return None
    put_file(path, png_bytes(_upscale(image)))
    return path.relative_to(bundle).as_posix()


# --------------------------------------------------------------------------- images


def as_image(array: Any, value_range: tuple[float, float]) -> np.ndarray | None:
    """An ``H x W x 3`` uint8 image from a 1- or 3-channel NCHW/NHWC/HW array, else None."""
    import numpy as np

    a = np.asarray(array, dtype=np.float64)
    while a.ndim > 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        return None
    if a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # CHW -> HWC
    if a.shape[2] not in (1, 3) or min(a.shape[:2]) < 2:
        return None
    low, high = value_range
    scaled = np.clip((a - low) / ((high - low) or 1.0), 0.0, 1.0)
    rgb = np.repeat(scaled, 3, axis=2) if scaled.shape[2] == 1 else scaled
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def mask_image(output: Any, like: Any | None = None) -> np.ndarray | None:
    """Per-pixel classes of a segmentation output, in the palette."""
    import numpy as np

    labels = _squeeze(segmentation_labels(np.asarray(output), like=like))
    if labels is None:
        return None
    palette = np.array(PALETTE, np.uint8)
    if int(labels.max(initial=0)) <= 1:
        palette = np.array([(0, 0, 0), (255, 255, 255)], np.uint8)  # binary: white foreground
    return palette[labels % len(palette)]


def mask_diff(reference: Any, output: Any) -> np.ndarray | None:
    """Agreement in grey (foreground lighter), extra foreground red, missed foreground blue."""
    import numpy as np

    ref = _squeeze(segmentation_labels(np.asarray(reference)))
    out = _squeeze(segmentation_labels(np.asarray(output), like=np.asarray(reference)))
    if ref is None or out is None or ref.shape != out.shape:
        return None
    image = np.where((ref > 0)[..., None], np.uint8(96), np.uint8(24)).repeat(3, axis=2)
    image[(out != ref) & (out > 0)] = (230, 40, 40)
    image[(out != ref) & (out == 0)] = (40, 110, 240)
    return image


def image_diff(reference: Any, output: Any) -> np.ndarray | None:
    """|output - reference| over the reference's range, as a black-red-yellow heat map.

    One fixed scale for every variant and sample (``DIFF_FULL_SCALE``), stated in the
    report's legend: scaled per image, an fp16 variant's 1e-4 error looked as red as
    an int8 one's.
    """
    import numpy as np

    ref, out = np.asarray(reference, np.float64), np.asarray(output, np.float64)
    if ref.shape != out.shape:
        return None
    low, high = _range(ref)
    error = np.abs(out - ref) / ((high - low) or 1.0)
    grey = as_image(error, (0.0, DIFF_FULL_SCALE))
    if grey is None:
        return None
    level = grey[..., :1].astype(np.float64).max(axis=2) / 255.0
    heat = np.stack(
        [np.clip(level * 2, 0, 1), np.clip(level * 2 - 1, 0, 1), np.zeros_like(level)], -1
    )
    return (heat * 255.0 + 0.5).astype(np.uint8)


def top_labels(output: Any, k: int = TOP_K_LABELS) -> tuple[LabelScore, ...]:
    """The k best classes with probabilities (softmax unless the output already sums to 1)."""
    import numpy as np

    scores = np.asarray(output, np.float64).reshape(-1)
    if not (scores.min() >= 0 and abs(scores.sum() - 1.0) < 1e-3):
        shifted = np.exp(scores - scores.max())
        scores = shifted / shifted.sum()
    order = np.argsort(-scores, kind="stable")[:k]
    return tuple(LabelScore(label=int(i), score=round(float(scores[i]), 6)) for i in order)


def _squeeze(labels: Any) -> np.ndarray | None:
    import numpy as np

    a = np.asarray(labels)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    return a.astype(np.int64) if a.ndim == 2 else None


def _range(array: Any) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(array, np.float64)
    return float(a.min()), float(a.max())


def _upscale(image: np.ndarray) -> np.ndarray:
    factor = max(1, -(-MIN_SIDE_PX // max(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image
