"""Resolution as a sweep axis: the model at each input size, and latency against size.

``[model] resolutions = [[720, 1280], "1080p", "4k"]`` (height, width, or a
preset) replaces the first input's spatial dimensions; each resolution is a
run of its own (convert, optimize, evaluate, measure), since a model re-exported
or rebound at another size is another model. A model that cannot take a size
keeps the reason, and the table says which sizes each profile and compute unit
runs within a latency budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgeops.errors import UsageError
from edgeops.models import DeviceProfile, Frozen, InputSpec, ModelSpec, Results

# Heights and widths of the video formats the names stand for (ITU-R BT.709, BT.2020 UHD-1).
PRESETS: dict[str, tuple[int, int]] = {
    "360p": (360, 640),
    "480p": (480, 854),
    "720p": (720, 1280),
    "1080p": (1080, 1920),
    "1440p": (1440, 2560),
    "4k": (2160, 3840),
    "2160p": (2160, 3840),
}


def parse_resolutions(value: Any) -> tuple[tuple[int, int], ...]:
    """``resolutions`` from edgeops.toml: [height, width] pairs or preset names."""
    if not isinstance(value, list) or not value:
        raise UsageError(
            'resolutions must be a list, e.g. resolutions = [[720, 1280], "1080p", "4k"]'
        )
    sizes = []
    for item in value:
        if isinstance(item, str):
            if item.lower() not in PRESETS:
                raise UsageError(
                    f"unknown resolution {item!r}; use [height, width] or one of "
                    f"{', '.join(PRESETS)}"
                )
            sizes.append(PRESETS[item.lower()])
        elif (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in item)
        ):
            sizes.append((item[0], item[1]))
        else:
            raise UsageError(
                f"resolution {item!r} is not [height, width] in pixels nor a preset name"
            )
    return tuple(dict.fromkeys(sizes))


def spatial_axes(spec: InputSpec) -> tuple[int, int]:
    """The (height, width) axes of an image input: from its layout, or its channel count."""
    if spec.layout:
        layout = spec.layout.upper()
        if "H" in layout and "W" in layout and len(layout) == len(spec.shape):
            return layout.index("H"), layout.index("W")
    shape = spec.shape
    if len(shape) == 4 and shape[1] in (1, 2, 3, 4) and shape[3] not in (1, 2, 3, 4):
        return 2, 3
    if len(shape) == 4 and shape[3] in (1, 2, 3, 4):
        return 1, 2
    if len(shape) == 4:
        return 2, 3
    raise UsageError(
        f"input {spec.name!r} of shape {list(shape)} has no clear height and width; "
        'set layout = "NCHW" or "NHWC" in [[model.inputs]]'
    )


def at_resolution(
    spec: ModelSpec, inputs: tuple[InputSpec, ...], size: tuple[int, int]
) -> ModelSpec:
    """``spec`` with its first input's height and width replaced by ``size``."""
    if not inputs:
        raise UsageError("a resolution sweep needs the model's inputs; add [[model.inputs]]")
    first = inputs[0]
    h_axis, w_axis = spatial_axes(first)
    shape = list(first.shape)
    shape[h_axis], shape[w_axis] = size
    resized = first.model_copy(update={"shape": tuple(shape)})
    return spec.model_copy(
        update={"inputs": (resized, *inputs[1:]), "resolutions": (), "resolution": size}
    )


def label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


class ResolutionCell(Frozen):
    resolution: str
    p50_ms: float | None = None
    p90_ms: float | None = None
    error: str | None = None


class ResolutionRow(Frozen):
    profile_id: str
    variant: str
    compute_unit: str
    cells: tuple[ResolutionCell, ...]
    largest_within_budget: str | None = None


class ResolutionSweep(Frozen):
    """Latency against resolution per profile, recipe and compute unit."""

    resolutions: tuple[str, ...]
    budget_ms: float | None
    rows: tuple[ResolutionRow, ...]
    not_taken: dict[str, str] = {}
    # A requested profile with no row, and why: it is named, not left out of the table.
    unmeasured: dict[str, str] = {}


def sweep_table(
    runs: Sequence[tuple[tuple[int, int], Results | None, str | None]],
    budget_ms: float | None,
    profiles: Sequence[DeviceProfile] = (),
) -> ResolutionSweep:
    """One row per (profile, recipe, compute unit), one cell per resolution.

    ``runs`` holds each resolution's results, or the reason it could not run.
    The budget is met on p90, as selection's latency budget is.
    """
    names = tuple(label(size) for size, _, _ in runs)
    found: dict[tuple[str, str, str], dict[str, ResolutionCell]] = {}
    not_taken: dict[str, str] = {}
    for size, results, why in runs:
        name = label(size)
        if results is None:
            not_taken[name] = why or "failed"
            continue
        for v in results.variants:
            if v.status != "ok":
                for p in results.profiles:
                    key = (p.id, v.name, "")
                    found.setdefault(key, {})[name] = ResolutionCell(
                        resolution=name, error=v.error or "failed"
                    )
        for m in results.measurements:
            try:
                variant = results.variant(m.variant_id)
            except KeyError:
                continue
            key = (m.profile_id, variant.name, m.compute_unit)
            found.setdefault(key, {})[name] = ResolutionCell(
                resolution=name,
                p50_ms=m.p50_ms,
                p90_ms=m.p90_ms,
                error=None if m.status == "ok" else (m.error or m.status),
            )
    rows = []
    for (profile_id, variant_name, unit), cells in sorted(found.items()):
        ordered = tuple(
            cells.get(
                n,
                ResolutionCell(
                    resolution=n,
                    error="the model cannot take this size" if n in not_taken else "not run",
                ),
            )
            for n in names
        )
        within = [
            c.resolution
            for c in ordered
            if budget_ms is not None and c.p90_ms is not None and c.p90_ms <= budget_ms
        ]
        largest = max(within, key=_pixels, default=None)
        rows.append(
            ResolutionRow(
                profile_id=profile_id,
                variant=variant_name,
                compute_unit=unit,
                cells=ordered,
                largest_within_budget=largest,
            )
        )
    shown = {r.profile_id for r in rows}
    unmeasured = {p.id: _why_unmeasured(p, runs) for p in profiles if p.id not in shown}
    return ResolutionSweep(
        resolutions=names,
        budget_ms=budget_ms,
        rows=tuple(rows),
        not_taken=not_taken,
        unmeasured=unmeasured,
    )


def _why_unmeasured(
    profile: DeviceProfile, runs: Sequence[tuple[tuple[int, int], Results | None, str | None]]
) -> str:
    done = [results for _, results, _ in runs if results is not None]
    if not done:
        return "no size could run (see below)"
    artifacts = [a for r in done for a in r.artifacts if a.format in profile.formats]
    if not any(a.status == "ok" for a in artifacts):
        errors = dict.fromkeys(a.error for a in artifacts if a.error)
        formats = ", ".join(profile.formats)
        return (
            f"not converted to {formats}: {'; '.join(e for e in errors if e)}"
            if errors
            else f"no installed plugin converts this model to {formats}"
        )
    return (
        "no device of this profile was reachable, so nothing was measured (see `edgeops devices`)"
    )


def _pixels(name: str) -> int:
    height, width = (int(x) for x in name.split("x"))
    return height * width
