"""Inputs for quality and calibration: a folder, a Python factory, or synthetic.

Whatever the origin, the samples become one ``.npz`` whose keys are
``<input name>/<index>``, each array with the input's exact shape and dtype.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.errors import EdgeopsError, SamplesError, UsageError
from edgeops.files import write_bytes
from edgeops.models import InputSpec, ModelSpec, SampleSet
from edgeops.pipeline.config import MAX_INPUT_ELEMENTS
from edgeops.pipeline.factories import is_factory
from edgeops.sample_files import (  # read back from files: below the pipeline
    MAX_SAMPLES_BYTES,
    call_factory,
    load_arrays,
    load_npy,
)

if TYPE_CHECKING:
    import numpy as np

SYNTHETIC_SEED = 20261122


def check_sample_bounds(
    inputs: tuple[InputSpec, ...], count: int, where: str, error: type[EdgeopsError] = UsageError
) -> None:
    """Refuse inputs whose samples could not be held, before one is made or read.

    ``inputs`` may be the model's own signature (read from the file, not the
    config), so the per-input bound is checked here too.
    """
    import numpy as np

    total = 0
    for spec in inputs:
        elements = math.prod(spec.shape)
        if elements > MAX_INPUT_ELEMENTS:
            raise error(
                f"{where}: input {spec.name!r} has shape {list(spec.shape)}, {elements:,} "
                f"elements, over the {MAX_INPUT_ELEMENTS:,} bound; give its real size in "
                "[[model.inputs]] shape"
            )
        total += elements * np.dtype(spec.dtype).itemsize * count
    if total > MAX_SAMPLES_BYTES:
        raise error(
            f"{where}: {count} samples of {[list(i.shape) for i in inputs]} are "
            f"{total / 2**30:.1f} GiB, over the {MAX_SAMPLES_BYTES / 2**30:.0f} GiB bound; "
            "lower model.sample_count"
        )


def build_samples(spec: ModelSpec, inputs: tuple[InputSpec, ...], workdir: Path) -> SampleSet:
    """Materialise the spec's samples into ``workdir/samples.npz``."""
    import numpy as np

    if not inputs:
        raise SamplesError(
            f"{spec.name}: the model's inputs are unknown; add [[model.inputs]] to edgeops.toml"
        )
    check_sample_bounds(inputs, spec.sample_count, spec.name)
    if spec.samples is None:
        rng = np.random.default_rng(SYNTHETIC_SEED)
        feeds = [{i.name: _random_input(rng, i) for i in inputs} for _ in range(spec.sample_count)]
        origin, synthetic = f"synthetic: uniform in value_range, seed {SYNTHETIC_SEED}", True
    else:
        raw = _load_raw(spec.samples, spec.sample_count, inputs)
        feeds = [
            _fit(item, inputs, where, resize=spec.resolution is not None) for where, item in raw
        ]
        origin, synthetic = spec.samples, False
    if not feeds:
        raise SamplesError(f"samples {spec.samples} are empty; add .npy files or remove `samples`")
    buffer = io.BytesIO()
    arrays = {f"{name}/{i}": a for i, feed in enumerate(feeds) for name, a in feed.items()}
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path = workdir / "samples.npz"
    write_bytes(path, buffer.getvalue())
    from edgeops.files import sha256_file

    return SampleSet(
        path=path, sha256=sha256_file(path), count=len(feeds), synthetic=synthetic, origin=origin
    )


def _random_input(rng: Any, spec: InputSpec) -> np.ndarray:
    import numpy as np

    low, high = spec.value_range
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(int(low), int(high) + 1, size=spec.shape).astype(dtype)
    return rng.uniform(low, high, size=spec.shape).astype(dtype)


def _load_raw(source: str, count: int, inputs: tuple[InputSpec, ...]) -> list[tuple[str, Any]]:

    if is_factory(source):
        items = call_factory(source, count)
        return [(f"{source}[{i}]", item) for i, item in enumerate(items)]
    folder = Path(source)
    if not folder.is_dir():
        raise SamplesError(f"samples folder {folder} not found; fix `samples` in edgeops.toml")
    files = sorted(p for p in folder.iterdir() if p.suffix in {".npy", ".npz"})[:count]
    if not files:
        raise SamplesError(f"samples folder {folder} holds no .npy or .npz files")
    raw: list[tuple[str, Any]] = []
    for file in files:
        try:
            raw.append((str(file), load_arrays(file) if file.suffix == ".npz" else load_npy(file)))
        except (OSError, ValueError) as exc:
            raise SamplesError(f"cannot read sample {file} ({exc}); replace or remove it") from exc
    return raw


def _fit(
    item: Any, inputs: tuple[InputSpec, ...], where: str, resize: bool = False
) -> dict[str, np.ndarray]:
    import numpy as np

    if not isinstance(item, dict):
        if len(inputs) != 1:
            raise SamplesError(
                f"sample {where} is one array but the model has {len(inputs)} inputs; "
                "use .npz files keyed by input name"
            )
        item = {inputs[0].name: item}
    feed = {}
    for spec in inputs:
        if spec.name not in item:
            raise SamplesError(f"sample {where} lacks input {spec.name!r}; it has {sorted(item)}")
        array = np.asarray(item[spec.name])
        if array.shape == tuple(spec.shape[1:]) and spec.shape[:1] == (1,):
            array = array[None]  # a sample saved without its batch dimension
        if resize and array.shape != tuple(spec.shape):
            array = resized_to(array, spec)
        if array.shape != tuple(spec.shape):
            raise SamplesError(
                f"sample {where} has shape {list(array.shape)} but input {spec.name!r} expects "
                f"{list(spec.shape)}; regenerate the samples or fix [[model.inputs]]"
            )
        feed[spec.name] = array.astype(spec.dtype, copy=False)
    return feed


def resized_to(array: Any, spec: InputSpec) -> Any:
    """``array`` at the input's height and width, when only those differ (a resolution sweep).

    Nearest neighbour: no value is invented, so integer images and label maps
    keep their values, and the reference and every variant see the same pixels.
    """
    from edgeops.pipeline.resolution import spatial_axes
    from edgeops.sample_files import resize_nearest

    try:
        axes = spatial_axes(spec)
    except EdgeopsError:
        return array
    if array.ndim != len(spec.shape) or any(
        array.shape[k] != spec.shape[k] for k in range(array.ndim) if k not in axes
    ):
        return array
    return resize_nearest(array, axes, (spec.shape[axes[0]], spec.shape[axes[1]]))
