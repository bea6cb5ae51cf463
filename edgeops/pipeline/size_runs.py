"""One input size of ``edgeops resolutions`` in its own process, under a memory bound.

Converting a model at 4K held 21.6 GB in the main process until the kernel
killed it, and the sizes already measured were lost with it. Each size now runs
in a spawned child (as the variant workers do, ``workers.py``) that the parent
watches: past the bound it is killed and that size is recorded as not taken,
with the figure; the next size is refused before it starts when the peak of the
last one, scaled by the pixel count, would not fit.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from edgeops.models import Device, DeviceProfile, MeasureSettings, ModelSpec, Results
from edgeops.options.ship import ShipOptions
from edgeops.pipeline.workers import MEMORY_SHARE, POLL_S, _rss_mb, mem_available_mb

# What a child holds before the model counts (Python, the SDKs a converter loads):
# the part of a peak that does not grow with the input size (workers.py's figure).
BASE_MB = 1200.0


@dataclass(frozen=True)
class SizeRun:
    size: tuple[int, int]
    results: Results | None
    error: str | None
    peak_mb: float


def memory_bound_mb() -> float | None:
    """What one size may hold: a share of the memory free now (None: unknown)."""
    free = mem_available_mb()
    return free * MEMORY_SHARE if free is not None else None


def estimate_mb(size: tuple[int, int], last: SizeRun | None) -> float | None:
    """A size's peak from the last finished one's, scaled by pixels (None: no basis yet)."""
    if last is None or last.results is None or last.peak_mb <= 0:
        return None
    scale = (size[0] * size[1]) / (last.size[0] * last.size[1])
    return BASE_MB + max(0.0, last.peak_mb - BASE_MB) * scale


def run_size(
    options: ShipOptions,
    workspace: Path,
    spec: ModelSpec,
    profiles: list[DeviceProfile],
    devices: list[Device],
    settings: MeasureSettings,
    size: tuple[int, int],
    bound_mb: float | None,
) -> SizeRun:
    """Convert, optimize and measure ``spec`` (already at ``size``) in a watched child,
    with the command's ``options`` in the ``workspace`` folder."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve,
        args=(
            child,
            options,
            workspace,
            spec.model_dump_json(),
            [p.model_dump_json() for p in profiles],
            [d.model_dump_json() for d in devices],
            settings.model_dump_json(),
        ),
        daemon=True,
    )
    process.start()
    child.close()
    peak = 0.0
    try:
        while True:
            if parent.poll(POLL_S):
                try:
                    kind, payload = parent.recv()
                except EOFError:
                    break
                if kind == "ok":
                    return SizeRun(size, Results.model_validate_json(payload), None, peak)
                return SizeRun(size, None, payload, peak)
            rss = _rss_mb(process.pid) if process.pid else 0.0
            peak = max(peak, rss)
            if bound_mb is not None and rss > bound_mb:
                process.kill()
                return SizeRun(
                    size,
                    None,
                    f"stopped at {rss:,.0f} MB, past the {bound_mb:,.0f} MB memory bound "
                    "(--memory-mb, default 80% of the memory free); free memory or drop this size",
                    peak,
                )
            if not process.is_alive() and not parent.poll():
                break
        return SizeRun(
            size, None, f"the process for this size died (exit {process.exitcode})", peak
        )
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()


def _serve(
    conn: Connection,
    options: ShipOptions,
    workspace: Path,
    spec_json: str,
    profiles_json: list[str],
    devices_json: list[str],
    settings_json: str,
) -> None:
    import signal

    from edgeops.errors import EdgeopsError
    from edgeops.pipeline import Workspace, one_line
    from edgeops.pipeline.protocol import Run, pipeline_for, run_stages
    from edgeops.pipeline.workers import _die_with_parent
    from edgeops.plugin_manager import make_plugin_manager

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for the group
    space = Workspace(workspace, refresh_cache=options.no_cache)
    pipeline = pipeline_for(make_plugin_manager(), space, options)
    settings = MeasureSettings.model_validate_json(settings_json)
    try:
        run = Run(
            pipeline,
            options,
            spec=ModelSpec.model_validate_json(spec_json),
            profiles=[DeviceProfile.model_validate_json(p) for p in profiles_json],
            settings=settings,
            devices=[Device.model_validate_json(d) for d in devices_json],
        )
        results = run_stages(run, None, "convert", "measure")
    except EdgeopsError as exc:
        # The model cannot take this size (a fixed Reshape, a size the export refuses):
        # the reason is kept, and the other sizes go on.
        conn.send(("error", one_line(exc)))
        return
    conn.send(("ok", results.model_dump_json()))
