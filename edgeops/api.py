"""The Python API: ``edgeops.ship``, ``edgeops.gate`` and ``edgeops.load_results``.

In the manner of ``olive.workflows.run`` and ``qai_hub.submit_profile_job``: one
call does what the command does. The CLI is a thin layer over these functions,
so a run from Python gets the same checks, cache, history entry and progress
lines as ``edgeops ship``::

    import edgeops

    results = edgeops.ship("examples/segmenter", profiles=["host"], out="dist/seg")
    for plan in results.plans:
        print(plan.profile_id, plan.status, [c.variant_id for c in plan.choices])
    report = edgeops.gate("dist/seg-v1", results)
    assert report.verdict != "fail"
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.errors import UsageError

if TYPE_CHECKING:
    from edgeops.gate.compare import GateReport
    from edgeops.models import (
        MeasureSettings,
        Objective,
        Results,
        Task,
        Variant,
    )


# What `select` optimises for (edgeops ship --objective).
OBJECTIVES = ("fastest", "smallest", "best-quality")


def default_workspace() -> Path:
    """``$EDGEOPS_HOME``, else ``.edgeops`` in the current folder: the cache and the history."""
    return Path(os.environ.get("EDGEOPS_HOME", ".edgeops"))


def load_results(path: str | Path) -> Results:
    """Read a ``results.json``, or the one in a bundle folder.

    Raises ``ResultsError`` (one line naming the fix) for a missing, broken or
    other-schema file."""
    from edgeops.pipeline.bundle import read_results

    return read_results(Path(path))


def ship(
    model: str | Path | None = None,
    profiles: Sequence[str] = (),
    *,
    out: str | Path | None = None,
    devices: str | Path | None = None,
    workspace: str | Path | None = None,
    task: Task | None = None,
    name: str | None = None,
    version: str | None = None,
    rounds: int | None = None,
    min_runs: int | None = None,
    min_duration_s: float | None = None,
    threads: int | None = None,
    paced_fps: Sequence[float] | None = None,
    paced_duration_s: float | None = None,
    memory_safety_factor: float | None = None,
    reuse_measurements: bool = False,
    no_cache: bool = False,
    prune: bool = True,
    jobs: int | None = None,
    task_timeout_s: float = 1800.0,
    worker_memory_mb: int | None = None,
    keep_outputs: int | None = None,
    gallery_worst: int | None = None,
    baseline: str | Path | None = None,
    until_decided: bool = False,
    max_extra_rounds: int = 80,
    keep_previous_primary: bool = True,
    objective: Objective = "fastest",
    force: bool = False,
    resume: str | None = None,
    progress: bool = True,
    samples: str | Path | None = None,
) -> Results:
    """Convert, optimize, evaluate, measure, select, and write the release bundle.

    ``model`` is a model file, a factory ``file.py:function``, or a folder (or
    file) holding ``edgeops.toml``; ``profiles`` default to its ``[ship]
    profiles``, else ``["host"]``. The bundle goes to ``out``, default
    ``dist/<name>-<version>/``. ``devices`` is an inventory (``devices.toml``).
    ``rounds``, ``min_runs``, ``min_duration_s``, ``threads``, ``paced_fps`` and
    ``paced_duration_s`` override the measurement settings; ``memory_safety_factor`` the share of a profile's
    app memory limit a variant may use. ``no_cache`` makes every conversion,
    variant and score again and replaces their cache entries. ``prune`` rules
    out variants on the host (below the floor, too large, dominated) and stops
    clearly beaten ones on the device; ``False`` measures all for every round.
    ``jobs`` worker processes make and score variants (None: every core, 1: in
    this process), each stopped past ``task_timeout_s`` or ``worker_memory_mb``.
    ``keep_outputs`` and ``gallery_worst`` size report.html's sample gallery. ``until_decided`` adds rounds, up to
    ``max_extra_rounds`` per measurement, where the gate against ``baseline``
    is inconclusive. ``keep_previous_primary`` prefers, among tied candidates, the primary
    of this workspace's previous release of the model when no ``baseline`` is
    given (a ``baseline`` always gives it). ``resume`` continues an interrupted run (``"last"``, or a
    run id) and needs no ``model``. ``progress`` prints one line per stage and
    item on stderr (a live bar in a terminal). ``samples`` is a folder of ``.npy``
    files that replaces the spec's samples (and drops its labels, which belong to
    them): what ``ship --samples-from`` fetched from a team studio.

    Returns the Results; a profile that ends without a variant has a plan whose
    ``status`` is not ``"supported"`` (the CLI exits 4 then). Every run is
    recorded in the workspace's history: ``ok``, ``unsupported``, ``failed``
    or ``interrupted``. Bad input raises ``UsageError`` before any work.
    """
    from edgeops.devices.discovery import discover_devices
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.bundle import check_bundle_target
    from edgeops.pipeline.config import load_spec
    from edgeops.pipeline.history import History
    from edgeops.pipeline.names import check_name
    from edgeops.pipeline.protocol import Run, ship_stages
    from edgeops.plugin_manager import make_plugin_manager

    settings_update = _settings_update(rounds, min_runs, min_duration_s, threads)
    if paced_fps is not None:
        if any(not 0 < rate <= 10_000 for rate in paced_fps):
            raise UsageError(f"paced_fps {list(paced_fps)} must be rates in (0, 10000] fps")
        settings_update["paced_fps"] = tuple(float(rate) for rate in paced_fps)
    if paced_duration_s is not None:
        if not paced_duration_s >= 0:  # also refuses NaN
            raise UsageError(f"paced_duration_s {paced_duration_s!r} is not a number >= 0")
        settings_update["paced_duration_s"] = paced_duration_s
    _check_share(memory_safety_factor)
    for flag, count in (("keep_outputs", keep_outputs), ("gallery_worst", gallery_worst)):
        if count is not None and count < 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be 0 or more")
    if jobs is not None and jobs < 1:
        raise UsageError(f"jobs {jobs} is not a positive whole number")
    if max_extra_rounds < 1:
        raise UsageError(f"max_extra_rounds {max_extra_rounds} is not a positive whole number")
    if objective not in OBJECTIVES:
        raise UsageError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    pm = make_plugin_manager()
    space = Workspace(
        Path(workspace) if workspace is not None else default_workspace(), refresh_cache=no_cache
    )
    history = History(space.history_path)
    if out is not None:
        check_bundle_target(Path(out), force)
    base, primaries, incumbents = _baseline(baseline, space.root / "baselines")
    resumed: Results | None = None
    if resume:
        run_id = history.last_unfinished() if resume == "last" else resume
        if run_id is None:
            raise UsageError(
                "no interrupted run to resume in this workspace; run `edgeops ship` without --resume"
            )
        check_name(run_id, "run id")
        journal = space.journal(run_id)
        if not journal.stage_path.is_file():
            raise UsageError(
                f"run {run_id} stopped before measuring; nothing to resume, run `edgeops ship` again"
            )
        resumed = journal.load_stage()
        settings, safety = resumed.settings, memory_safety_factor
        # The run's own inventory, unless a new one is given: a resume without
        # devices must not fall back to this machine alone.
        saved = journal.load_devices()
        found = (
            saved if devices is None and saved is not None
            else discover_devices(pm, Path(devices) if devices is not None else None)
        )  # fmt: skip
    else:
        if model is None:
            raise UsageError(
                "ship needs a MODEL (a model file or a folder with edgeops.toml), or --resume"
            )
        spec, defaults = load_spec(model, task=task, name=name, version=version)
        if samples is not None:
            spec = spec.model_copy(update={"samples": str(Path(samples).resolve()), "labels": None})
        if out is None:
            check_bundle_target(Path("dist") / f"{spec.name}-{spec.version}", force)
        chosen = resolve_profiles(list(profiles) or list(defaults.profiles) or ["host"], pm)
        settings = _measure_settings(settings_update)
        safety = (
            memory_safety_factor
            if memory_safety_factor is not None
            else defaults.memory_safety_factor
        )
        found = discover_devices(pm, Path(devices) if devices is not None else None)
        if base is None and keep_previous_primary:
            primaries = _previous_primaries(history, spec.name)
        run_id = uuid.uuid4().hex[:12]
        journal = space.journal(run_id)
    with _observed(pm, progress):
        pipeline = Pipeline(
            pm,
            space,
            jobs=jobs,
            task_timeout_s=task_timeout_s,
            worker_memory_mb=worker_memory_mb,
            halving=prune,
        )
        if keep_outputs is not None:
            pipeline.keep_outputs = keep_outputs
        if gallery_worst is not None:
            pipeline.worst_k = gallery_worst
        pipeline.cache.clear_stale_temporaries()
        run = Run(
            pipeline,
            spec=None if resumed else spec,
            profiles=[] if resumed else chosen,
            run_id=run_id,
            settings=settings,
            journal=journal,
            devices=found,
            prune=prune,
            memory_safety_factor=safety,
            baseline=base,
            incumbents=incumbents,
            reuse_measurements=reuse_measurements,
            objective=objective,
            primaries=primaries,
            until_decided=until_decided,
            max_extra_rounds=max_extra_rounds,
            out=Path(out) if out is not None else None,
            force=force,
        )
        return ship_stages(run, resumed)


def gate(
    baseline: str | Path | Results,
    current: str | Path | Results,
    **thresholds: Any,
) -> GateReport:
    """Compare ``current`` with ``baseline`` (Results, results.json paths or bundle folders).

    ``thresholds`` are ``edgeops gate``'s settings by their field names
    (``threshold_pct=5``, ``threshold_pct_by_profile={"pixel6": 3}``,
    ``memory_threshold_pct``, ``memory_threshold_mb``, ``size_threshold_pct``,
    ``quality_drop_pct``, ``confidence``, ``session_sigma``: the between-session
    spread as a fraction, for a comparison across sessions; without it 3%, as
    no workspace history is read here); the rest keep the command's defaults.
    A current run holding the baseline's primary re-measured beside its own
    is compared paired, in one session. The report's ``verdict`` is ``pass``, ``fail`` or ``inconclusive``, and its
    ``exit_code`` what ``edgeops gate`` exits with (0, 1, 3)."""
    from dataclasses import fields

    from edgeops.gate.compare import GateSettings
    from edgeops.gate.compare import gate as compare

    known = [f.name for f in fields(GateSettings)]
    for key, value in thresholds.items():
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"unknown gate setting {key!r}; {hint}known: {', '.join(known)}")
        if isinstance(value, int | float) and value < 0:
            raise UsageError(f"{key} is negative; thresholds are allowed growth, 0 or more")
    settings = GateSettings(**thresholds)
    names = (_label("baseline", baseline), _label("current", current))
    return compare(_results(baseline), _results(current), settings, names=names)


def _results(value: str | Path | Results) -> Results:
    from edgeops.models import Results

    return value if isinstance(value, Results) else load_results(value)


def _label(role: str, value: Any) -> str:
    return f"{role} {value}" if isinstance(value, str | Path) else f"{role} run {value.run_id}"


def _settings_update(
    rounds: int | None, min_runs: int | None, min_duration_s: float | None, threads: int | None
) -> dict[str, Any]:
    for flag, value in (("rounds", rounds), ("min_runs", min_runs), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UsageError(f"{flag} {value!r} is not a positive whole number")
    if min_duration_s is not None and not min_duration_s >= 0:  # also refuses NaN
        raise UsageError(f"min_duration_s {min_duration_s!r} is not a number >= 0")
    update = {
        "rounds": rounds,
        "min_runs": min_runs,
        "min_duration_s": min_duration_s,
        "threads": threads,
    }
    return {k: v for k, v in update.items() if v is not None}


def _measure_settings(update: dict[str, Any], base: MeasureSettings | None = None) -> Any:
    from edgeops.models import MeasureSettings

    return (base or MeasureSettings()).model_copy(update=update)


def _check_share(value: float | None) -> None:
    if value is not None and not 0 < value <= 1:
        raise UsageError(f"memory_safety_factor {value} is outside (0, 1], e.g. 0.5")


class _observed:
    """The progress reporter registered on the plugin manager for one run."""

    def __init__(self, pm: Any, progress: bool) -> None:
        self.pm, self.progress, self.stack = pm, progress, ExitStack()

    def __enter__(self) -> _observed:
        if self.progress:
            from edgeops.cli.output import make_console
            from edgeops.cli.progress import ProgressReporter

            reporter = self.stack.enter_context(ProgressReporter(make_console(stderr=True)))
            self.pm.register(reporter, name="edgeops.cli.progress")
            self.stack.callback(self.pm.unregister, reporter)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


def _baseline(
    path: str | Path | None, copies: Path
) -> tuple[Results | None, dict[str, str], list[Variant]]:
    """The baseline run, its primaries (the tie-break), and its primary files checked
    against its records and copied under ``copies``, to be measured again beside the
    candidates (incumbents.py): none without a bundle holding them (the gate then
    compares stored rounds, across sessions). Checked before any work."""
    from edgeops.pipeline.incumbents import bundle_of, verified_primaries
    from edgeops.pipeline.names import inside

    if path is None:
        return None, {}, []
    base = load_results(path)
    bundle = bundle_of(Path(path))
    if bundle is None:
        return base, _primaries(base), []
    files = verified_primaries(base, bundle, inside(copies, base.run_id))
    return base, _primaries(base), files


def _primaries(results: Results | None) -> dict[str, str]:
    """Each supported profile's primary (format:recipe) in a run: the tie-break a baseline gives."""
    if results is None:
        return {}
    return {p.profile_id: p.choices[0].variant_name for p in results.plans if p.choices}


def _previous_primaries(history: Any, model: str) -> dict[str, str]:
    """The primaries of the workspace's previous release of ``model``; {} when it has none.

    A release that cannot be read (moved, edited, another schema) gives no
    preference rather than stopping the ship: it only breaks ties.
    """
    from edgeops.errors import ResultsError

    bundle = history.last_release(model)
    if bundle is None:
        return {}
    try:
        return _primaries(load_results(bundle))
    except ResultsError:
        return {}
