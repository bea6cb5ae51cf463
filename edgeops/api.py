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

import math
import os
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.errors import UsageError, run_outcome

if TYPE_CHECKING:
    from edgeops.gate.compare import GateReport, GateSettings
    from edgeops.models import (
        Device,
        Measurement,
        MeasureSettings,
        Objective,
        Plan,
        Results,
        Task,
        Variant,
    )
    from edgeops.pipeline import Pipeline


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
    from edgeops.pipeline import Pipeline, Workspace, one_line
    from edgeops.pipeline.bundle import check_bundle_target, default_bundle_dir, write_bundle
    from edgeops.pipeline.config import load_spec
    from edgeops.pipeline.history import History
    from edgeops.pipeline.names import check_name
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
    results: Results | None = None
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
        results = journal.load_stage()
        settings, safety = results.settings, memory_safety_factor
        # The run's own inventory, unless a new one is given: a resume without
        # devices must not fall back to this machine alone.
        saved = journal.load_devices()
        found = (
            saved if devices is None and saved is not None
            else discover_devices(pm, Path(devices) if devices is not None else None)
        )  # fmt: skip
        history.started(
            run_id, results.spec.name, results.spec.version, [p.id for p in results.profiles]
        )
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
        history.started(run_id, spec.name, spec.version, [p.id for p in chosen])
    beating = history.heartbeat(run_id)
    bundle: Path | None = None
    try:
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
            if results is None:
                results = pipeline.convert(spec, chosen, settings, run_id=run_id)
                results = pipeline.optimize(results)
                journal.save_devices(found)
                if prune:
                    results = pipeline.prune(results, safety)
                results = _with_incumbents(pipeline, results, incumbents, base)
                journal.save_stage(results)
            results = pipeline.measure(
                results,
                found,
                settings,
                reuse_measurements=reuse_measurements,
                journal=journal,
            )
            results = pipeline.select(
                results,
                memory_safety_factor=safety,
                objective=objective,
                baseline_primaries=primaries,
            )
            if until_decided:
                results = _until_decided(
                    pipeline, results, found, max_extra_rounds, objective, safety, base, primaries
                )
        bundle = Path(out) if out is not None else default_bundle_dir(results)
        write_bundle(results, bundle, force=force)
    except KeyboardInterrupt:
        history.finished(run_id, "interrupted", results)
        raise
    except Exception as exc:
        history.finished(run_id, "failed", results, error=one_line(exc))
        raise
    finally:
        beating.set()
    outcome = run_outcome(results.plans)
    history.finished(run_id, outcome.status, results, bundle=bundle, error=outcome.error)
    return results


def gate(
    baseline: str | Path | Results,
    current: str | Path | Results,
    **thresholds: Any,
) -> GateReport:
    """Compare ``current`` with ``baseline`` (Results, results.json paths or bundle folders).

    ``thresholds`` are the fields of ``edgeops.options.gate.GateOptions``, which
    ``edgeops gate``'s flags are made from (``threshold_pct=5``,
    ``threshold_pct_by_profile={"pixel6": 3}``, ``session_sigma``: the between-session
    spread as a fraction; without it 3%, as no workspace history is read here); the
    rest keep their declared defaults.
    A current run holding the baseline's primary re-measured beside its own
    is compared paired, in one session. The report's ``verdict`` is ``pass``, ``fail`` or ``inconclusive``, and its
    ``exit_code`` what ``edgeops gate`` exits with (0, 1, 3)."""
    from edgeops.gate.compare import GateSettings
    from edgeops.gate.compare import gate as compare
    from edgeops.options.gate import GateOptions

    settings = GateSettings(**dict(GateOptions.from_keywords(**thresholds)))
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


def _with_incumbents(
    pipeline: Pipeline, results: Results, incumbents: list[Variant], base: Results | None
) -> Results:
    """``results`` with the baseline's primary files among its variants (incumbents.py)."""
    from edgeops.pipeline.incumbents import add_incumbents, score_incumbents

    if base is None or not incumbents:
        return results
    return score_incumbents(pipeline, add_incumbents(results, incumbents, base))


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


def _until_decided(
    pipeline: Pipeline,
    results: Results,
    devices: list[Device],
    max_extra_rounds: int,
    objective: Objective,
    safety: float | None,
    baseline: Results | None,
    primaries: dict[str, str],
) -> Results:
    """Add rounds where they can change a decision, until decided or ``--max-extra-rounds``.

    Three kinds of decision: a primary tied with the fastest only because the
    interval of their ratio straddles the equivalence margin (both get the
    rounds, measured in alternation, so the comparison stays paired); a gate
    comparison against ``--baseline`` the sequential test has not decided (the
    current gets the rounds its next look needs); and a primary not yet
    precise enough to be a baseline gates can decide against.
    """
    from edgeops.gate.compare import GateSettings, undecided_comparisons
    from edgeops.gate.stats import gate_ready_rounds, next_look
    from edgeops.round_stats import log_round_medians, ratio_interval, rounds_to_resolve

    settings = GateSettings()
    added: dict[tuple[str, str, str], int] = {}
    while True:
        wanted: dict[tuple[str, str, str], int] = {}

        def want(
            key: tuple[str, str, str],
            rounds: int | None,
            wanted: dict[tuple[str, str, str], int] = wanted,
        ) -> None:
            budget = max_extra_rounds - added.get(key, 0)
            if rounds and budget > 0:
                wanted[key] = max(wanted.get(key, 0), min(rounds, budget))

        by_key = {(m.variant_id, m.device_id, m.compute_unit): m for m in results.measurements}
        for plan in results.plans:
            m = _primary_measurement(results, plan)
            if m is None:
                continue
            key = (m.variant_id, m.device_id, m.compute_unit)
            threshold = 1.0 + settings.latency_threshold_pct(plan.profile_id) / 100.0
            logs = log_round_medians(m)
            # In steps to the next look, so the spread is re-estimated on the way.
            step = next_look(len(logs)) - len(logs)
            want(key, min(gate_ready_rounds(logs, threshold, settings.design), step))
            rival = _rival(results, plan)
            if plan.decision == "undecided" and rival is not None:
                ratio = ratio_interval(m, rival)
                margin = 1.0 + (results.policy.equivalence_pct if results.policy else 5.0) / 100.0
                more = rounds_to_resolve(ratio, margin, cap=max_extra_rounds) if ratio else None
                want(key, more)
                want((rival.variant_id, rival.device_id, rival.compute_unit), more)
        if baseline is not None:
            for todo in undecided_comparisons(baseline, results, settings):
                want((todo.variant_id, todo.device_id, todo.compute_unit), todo.more_rounds)
                if todo.paired_baseline is not None:
                    # Paired mode: the re-measured baseline gets the same rounds, measured
                    # in alternation with the current's in the one remeasure below.
                    want(todo.paired_baseline, todo.more_rounds)
        wanted = {k: v for k, v in wanted.items() if k in by_key}
        # A baseline measured again in this session gets the rounds its candidates get,
        # in the same sessions, so every added round still has its pair.
        for pair, rounds in _paired_rounds(results, baseline, wanted).items():
            wanted[pair] = max(wanted.get(pair, 0), rounds)
        if not wanted:
            return _note_unready_baselines(results, settings, added)
        for key, rounds in wanted.items():
            added[key] = added.get(key, 0) + rounds
        results = pipeline.select(
            pipeline.remeasure(results, devices, wanted),
            memory_safety_factor=safety,
            objective=objective,
            baseline_primaries=primaries,
        )


def _paired_rounds(
    results: Results, baseline: Results | None, wanted: dict[tuple[str, str, str], int]
) -> dict[tuple[str, str, str], int]:
    """Rounds for each re-measured baseline measurement: the most any variant measured
    beside it (its profile, its device) is given now."""
    if baseline is None:
        return {}
    out: dict[tuple[str, str, str], int] = {}
    for m in results.measurements:
        if m.remeasured_from != baseline.run_id or m.status != "ok":
            continue
        key = (m.variant_id, m.device_id, m.compute_unit)
        beside = [
            rounds
            for (variant_id, device_id, unit), rounds in wanted.items()
            if device_id == m.device_id
            and (variant_id, unit) != (m.variant_id, m.compute_unit)
            and any(
                x.profile_id == m.profile_id
                and (x.variant_id, x.device_id) == (variant_id, device_id)
                for x in results.measurements
            )
        ]
        if beside:
            out[key] = max(beside)
    return out


def _note_unready_baselines(
    results: Results, settings: GateSettings, added: dict[tuple[str, str, str], int]
) -> Results:
    """Say in each plan whose primary the bound left too imprecise to gate against.

    Otherwise the run looks like a baseline, and the first gate against it ends
    inconclusive on a noisy device without anyone having been told why.
    """
    from edgeops.gate.stats import gate_ready_rounds
    from edgeops.round_stats import log_round_medians, spread

    plans = []
    for plan in results.plans:
        m = _primary_measurement(results, plan)
        note = None
        if m is not None:
            threshold = 1.0 + settings.latency_threshold_pct(plan.profile_id) / 100.0
            logs = log_round_medians(m)
            short = gate_ready_rounds(logs, threshold, settings.design)
            if short > 0:
                key = (m.variant_id, m.device_id, m.compute_unit)
                cv = spread(logs)
                how = f"spread {cv:.1%}" if math.isfinite(cv) else "spread unknown"
                note = (
                    f"{plan.choices[0].variant_name} stopped at {len(logs)} rounds "
                    f"({how}), about {short} short of a baseline gates "
                    f"can decide against; a gate against this run may end inconclusive: "
                    f"re-run with --max-extra-rounds {added.get(key, 0) + short} "
                    "or on a quieter device"
                )
        plans.append(plan.model_copy(update={"baseline_note": note}))
    return results.model_copy(update={"plans": tuple(plans)})


def _primary_measurement(results: Results, plan: Plan) -> Measurement | None:
    """The measured, ok measurement of ``plan``'s primary, or None."""
    if not plan.choices:
        return None
    primary = plan.choices[0]
    return next(
        (
            x
            for x in results.measurements
            if x.profile_id == plan.profile_id
            and (x.variant_id, x.compute_unit) == (primary.variant_id, primary.compute_unit)
            and x.status == "ok"
            and x.method == "measured"
        ),
        None,
    )


def _rival(results: Results, plan: Any) -> Any:
    """The fastest candidate's measurement, named in the plan's frontier, when it is not the primary."""
    leader = min(
        (p for p in plan.frontier if p.p50_ms is not None), key=lambda p: p.p50_ms, default=None
    )
    if leader is None or leader.chosen:
        return None
    return next(
        (
            m
            for m in results.measurements
            if m.profile_id == plan.profile_id
            and (m.variant_id, m.compute_unit) == (leader.variant_id, leader.compute_unit)
            and m.status == "ok"
        ),
        None,
    )
