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
        Objective,
        Plan,
        Results,
        Variant,
    )
    from edgeops.options.ship import ShipOptions
    from edgeops.pipeline import Pipeline


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
    options: ShipOptions | None = None,
    **keywords: Any,
) -> Results:
    """Convert, optimize, evaluate, measure, select, and write the release bundle.

    ``model`` is a model file, a factory ``file.py:function``, or a folder (or
    file) holding ``edgeops.toml``; ``profiles`` default to its ``[ship]
    profiles``, else ``["host"]``. Every other setting is a keyword named as a
    field of :class:`edgeops.options.ship.ShipOptions`, where each one's default,
    range and meaning are declared (the flags of ``edgeops ship`` are made from the
    same fields): ``out``, ``devices``, ``workspace``, ``rounds``, ``min_runs``,
    ``min_duration_s``, ``memory_safety_factor``, ``prune``, ``jobs``, ``baseline``,
    ``until_decided``, ``objective``, ``resume``, ``progress``, ``samples``, ...
    ``options`` is a ShipOptions to start from; keywords override it, and a keyword
    that is None keeps the default.

    Returns the Results; a profile that ends without a variant has a plan whose
    ``status`` is not ``"supported"`` (the CLI exits 5 then). Every run is
    recorded in the workspace's history with the status ``edgeops.errors.run_outcome``
    gives: ``ok``, ``unsupported``, ``device_failed``, ``failed`` or ``interrupted``.
    Bad input raises ``UsageError`` before any work.
    """
    from edgeops.options.ship import ShipOptions

    given = {"model": model, "profiles": tuple(profiles) or None}
    return _Ship(ShipOptions.from_keywords(options, **given, **keywords)).run()


class _Ship:
    """One run of ``ship``: its workspace, history and baseline, checked before any work."""

    def __init__(self, options: ShipOptions) -> None:
        from edgeops.pipeline import Workspace
        from edgeops.pipeline.bundle import check_bundle_target
        from edgeops.pipeline.history import History
        from edgeops.plugin_manager import make_plugin_manager

        self.options = o = options
        self.pm = make_plugin_manager()
        root = Path(o.workspace) if o.workspace is not None else default_workspace()
        self.space = Workspace(root, refresh_cache=o.no_cache)
        self.history = History(self.space.history_path)
        if o.out is not None:
            check_bundle_target(Path(o.out), o.force)
        self.base, self.primaries, self.incumbents = _baseline(
            o.baseline, self.space.root / "baselines"
        )
        self.results: Results | None = None

    def run(self) -> Results:
        """Start (or resume) the run, take it through every stage, and record how it ended."""
        from edgeops.pipeline import one_line

        if self.options.resume:
            self._resume()
        else:
            self._start()
        beating = self.history.heartbeat(self.run_id)
        bundle: Path | None = None
        try:
            results = self._stages()
            bundle = self._bundle(results)
        except (Exception, KeyboardInterrupt) as exc:
            error = None if isinstance(exc, KeyboardInterrupt) else one_line(exc)
            status = run_outcome(error=exc).status  # the status the CLI's exit code agrees with
            self.history.finished(self.run_id, status, self.results, error=error)
            raise
        finally:
            beating.set()
        outcome = run_outcome(results.plans)
        self.history.finished(
            self.run_id, outcome.status, results, bundle=bundle, error=outcome.error
        )
        return results

    def _start(self) -> None:
        """A new run: the spec, profiles and devices, and its entry in the history."""
        from edgeops.devices.discovery import discover_devices
        from edgeops.devices.profiles import resolve_profiles
        from edgeops.models import MeasureSettings
        from edgeops.options.measure import RECORDED
        from edgeops.pipeline.bundle import check_bundle_target
        from edgeops.pipeline.config import load_spec

        o = self.options
        if o.model is None:
            raise UsageError(
                "ship needs a MODEL (a model file or a folder with edgeops.toml), or --resume"
            )
        spec, defaults = load_spec(o.model, task=o.task, name=o.name, version=o.version)
        if o.samples is not None:
            spec = spec.model_copy(
                update={"samples": str(Path(o.samples).resolve()), "labels": None}
            )
        if o.out is None:
            check_bundle_target(Path("dist") / f"{spec.name}-{spec.version}", o.force)
        self.spec = spec
        self.profiles = resolve_profiles(list(o.profiles or defaults.profiles or ["host"]), self.pm)
        self.settings = MeasureSettings(**o.model_dump(include=set(RECORDED)))
        # The flag, else the config's [ship] table, else the declared default.
        self.safety = o.given("memory_safety_factor") or defaults.memory_safety_factor
        self.devices = discover_devices(self.pm, o.devices)
        if self.base is None and o.keep_previous_primary:
            self.primaries = _previous_primaries(self.history, spec.name)
        self.run_id = uuid.uuid4().hex[:12]
        self.journal = self.space.journal(self.run_id)
        self.history.started(self.run_id, spec.name, spec.version, [p.id for p in self.profiles])

    def _resume(self) -> None:
        """An interrupted run: its measured stage and its own devices, from its journal."""
        from edgeops.devices.discovery import discover_devices
        from edgeops.pipeline.names import check_name

        o = self.options
        run_id = self.history.last_unfinished() if o.resume == "last" else o.resume
        if run_id is None:
            raise UsageError(
                "no interrupted run to resume in this workspace; run `edgeops ship` without --resume"
            )
        check_name(run_id, "run id")
        self.run_id, self.journal = run_id, self.space.journal(run_id)
        if not self.journal.stage_path.is_file():
            raise UsageError(
                f"run {run_id} stopped before measuring; nothing to resume, run `edgeops ship` again"
            )
        self.results = results = self.journal.load_stage()
        self.settings, self.safety = results.settings, o.given("memory_safety_factor")
        # The run's own inventory, unless a new one is given: a resume without
        # devices must not fall back to this machine alone.
        saved = self.journal.load_devices()
        self.devices = (
            saved if o.devices is None and saved is not None
            else discover_devices(self.pm, o.devices)
        )  # fmt: skip
        profiles = [p.id for p in results.profiles]
        self.history.started(run_id, results.spec.name, results.spec.version, profiles)

    def _stages(self) -> Results:
        """convert -> optimize -> prune -> measure -> select (-> more rounds until decided)."""
        from edgeops.pipeline import Pipeline

        o = self.options
        with _observed(self.pm, o.progress):
            pipeline = Pipeline(
                self.pm,
                self.space,
                jobs=o.jobs,
                task_timeout_s=o.task_timeout_s,
                worker_memory_mb=o.worker_memory_mb,
                halving=o.prune,
            )
            pipeline.keep_outputs, pipeline.worst_k = o.keep_outputs, o.gallery_worst
            pipeline.cache.clear_stale_temporaries()
            if self.results is None:
                self.results = pipeline.convert(
                    self.spec, self.profiles, self.settings, run_id=self.run_id
                )
                self.results = pipeline.optimize(self.results)
                self.journal.save_devices(self.devices)
                if o.prune:
                    self.results = pipeline.prune(self.results, self.safety)
                self.results = _with_incumbents(pipeline, self.results, self.incumbents, self.base)
                self.journal.save_stage(self.results)
            self.results = pipeline.measure(
                self.results,
                self.devices,
                self.settings,
                reuse_measurements=o.reuse_measurements,
                journal=self.journal,
            )
            self.results = self._select(pipeline, self.results)
            if o.until_decided:
                self.results = _until_decided(
                    pipeline,
                    self.results,
                    self.devices,
                    o.max_extra_rounds,
                    o.objective,
                    self.safety,
                    self.base,
                    self.primaries,
                )
        return self.results

    def _select(self, pipeline: Pipeline, results: Results) -> Results:
        return pipeline.select(
            results,
            memory_safety_factor=self.safety,
            objective=self.options.objective,
            baseline_primaries=self.primaries,
        )

    def _bundle(self, results: Results) -> Path:
        from edgeops.pipeline.bundle import default_bundle_dir, write_bundle

        out = self.options.out
        bundle = Path(out) if out is not None else default_bundle_dir(results)
        write_bundle(results, bundle, force=self.options.force)
        return bundle


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
