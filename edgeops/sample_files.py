"""Samples, labels and outputs read back from files, within bounds checked first, and
resized to another resolution.

What quality scoring, the report and a backend read (``.npz`` archives, ``.npy``
labels, a labels factory); making the samples is ``edgeops.pipeline.samples``.
"""

from __future__ import annotations

import inspect
import time
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from edgeops.errors import SamplesError
from edgeops.files import open_regular
from edgeops.models import ModelSpec, SampleSet
from edgeops.pipeline.factories import import_factory, is_factory

if TYPE_CHECKING:
    import numpy as np

# Every sample of every input is held in memory on this host (and through each
# variant): one input of 2**28 elements is already 1 GiB as float32 (the per-input
# bound in config.py). 2 GiB in all is far past a calibration set (about 100
# images of 224x224x3 are 60 MB) and fits the machines edgeops runs on.
MAX_SAMPLES_BYTES = 2 * 1024**3
# A factory is user code: one that never ends is stopped at this many seconds.
FACTORY_TIME_LIMIT_S = 600.0


def load_arrays(path: Path, max_bytes: int = MAX_SAMPLES_BYTES) -> dict[str, Any]:
    """The arrays of an ``.npz``, refused from its zip headers if they would not fit.

    A zip bomb (17 MB of zeros that decompress to 4 GB) is caught by the members'
    declared sizes before one byte is inflated; zipfile never inflates a member
    past its declared size, so the headers cannot lie about it either.
    """
    import numpy as np

    with open_regular(path, "samples file", SamplesError) as f:
        _check_members(f, path, max_bytes)
        f.seek(0)
        with np.load(f, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


def _check_members(f: IO[bytes], path: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(f) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise SamplesError(f"{path} is not an .npz archive ({exc}); replace it") from exc
    if declared > max_bytes:
        raise SamplesError(
            f"{path} would decompress to {declared / 2**20:,.0f} MB, over the "
            f"{max_bytes / 2**20:,.0f} MB bound for samples; use fewer or smaller arrays"
        )


def load_npy(path: Path) -> Any:
    import numpy as np

    with open_regular(path, "samples file", SamplesError) as f:
        return np.load(f, allow_pickle=False)


def sample_feeds(samples: SampleSet) -> list[dict[str, np.ndarray]]:
    """One ``{input name: array}`` per sample, in order."""
    feeds: list[dict[str, np.ndarray]] = [{} for _ in range(samples.count)]
    for key, array in load_arrays(samples.path).items():
        name, index = key.rsplit("/", 1)
        feeds[int(index)][name] = array
    return feeds


def load_labels(spec: ModelSpec, count: int) -> list[Any]:
    """The spec's ground truth, one array per sample in the samples' order."""
    import numpy as np

    assert spec.labels is not None
    if is_factory(spec.labels):
        return [np.asarray(a) for a in call_factory(spec.labels, count)]
    folder = Path(spec.labels)
    if not folder.is_dir():
        raise SamplesError(f"labels folder {folder} not found; fix `labels` in edgeops.toml")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".npy")[:count]
    try:
        return [load_npy(f) for f in files]
    except (OSError, ValueError) as exc:
        raise SamplesError(f"cannot read labels in {folder} ({exc}); replace them") from exc


def call_factory(source: str, count: int) -> list[Any]:
    """The first ``count`` items the factory yields; a generator that never ends is fine
    (only ``count`` are taken), one that stalls is stopped at the time bound."""
    import itertools

    factory = import_factory(source, SamplesError, "samples")
    takes_count = bool(inspect.signature(factory).parameters)
    started = time.monotonic()
    items: list[Any] = []
    produced = factory(count) if takes_count else factory()
    try:
        iterator = iter(produced)
    except TypeError as exc:
        raise SamplesError(
            f"{source} returned {type(produced).__name__}, not a list or generator of samples"
        ) from exc
    for item in itertools.islice(iterator, count):
        items.append(item)
        if time.monotonic() - started > FACTORY_TIME_LIMIT_S:
            raise SamplesError(
                f"{source} took over {FACTORY_TIME_LIMIT_S:.0f} s for {len(items)} of {count} "
                "samples; make it faster or lower model.sample_count"
            )
    return items


def resize_nearest(array: Any, axes: tuple[int, int], size: tuple[int, int]) -> Any:
    """Nearest-neighbour resize of ``array`` along its two ``axes`` to ``size`` (h, w)."""
    import numpy as np

    out = np.asarray(array)
    for axis, new in zip(axes, size, strict=True):
        old = out.shape[axis]
        # The source pixel whose centre is nearest each target pixel's centre.
        index = np.minimum(((np.arange(new) + 0.5) * old / new).astype(np.int64), old - 1)
        out = np.take(out, index, axis=axis)
    return out
