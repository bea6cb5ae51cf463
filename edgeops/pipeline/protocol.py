"""The run protocol: the order of a run's stages, written once.

As pytest's ``_main`` is its hook calls, a run is these steps in this order, each a
stage of the Pipeline or a hook call::

    convert → optimize → prune → measure → select → bundle

with the history told when a ``ship`` starts and ends (``edgeops_run_started``,
``edgeops_run_finished``). Pruning (``edgeops_prune``), the bundle
(``edgeops_write_bundle``) and the history are hooks whose core defaults a plugin
may replace or add to, like selection (``edgeops_select``).

``edgeops ship`` (:func:`edgeops.api.ship`) runs every step, or from ``measure``
on for a resumed run; each stage command runs its own span of them (``edgeops
convert`` runs ``convert``; ``edgeops select`` runs ``select`` and ``bundle``);
a worker process makes and scores one variant with :func:`make_and_score`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from edgeops.errors import PluginError, run_outcome
from edgeops.options.ship import ShipOptions
from edgeops.pipeline.failures import one_line

if TYPE_CHECKING:
    from pluggy import PluginManager

    from edgeops.models import (
        Artifact,
        Device,
        DeviceProfile,
        MeasureSettings,
        ModelSpec,
        Recipe,
        Results,
        Variant,
    )
    from edgeops.pipeline import Pipeline
    from edgeops.pipeline.journal import RunJournal
    from edgeops.pipeline.workspace import Workspace

Stage = Literal["convert", "optimize", "prune", "measure", "select", "bundle"]
STAGES: tuple[Stage, ...] = ("convert", "optimize", "prune", "measure", "select", "bundle")


@dataclass
class Run:
    """One run: its settings, and what its steps need besides the Results each hands
    to the next.

    Every setting a step reads is ``options``' own field (pruning, reuse, the
    objective, rounds added until decided, the bundle's folder): declared once in
    edgeops/options and held here, never copied onto the run. The other fields are
    what the caller resolved before the run: the spec, profiles, devices, baseline."""

    pipeline: Pipeline
    options: ShipOptions = field(default_factory=ShipOptions)
    # convert: what to convert, for which profiles, and the run's id and measure settings.
    spec: ModelSpec | None = None
    profiles: list[DeviceProfile] = field(default_factory=list)
    run_id: str | None = None
    settings: MeasureSettings | None = None
    # optimize, prune: the devices and stage file kept for --resume, and the baseline's
    # primary files measured again beside the candidates.
    journal: RunJournal | None = None
    devices: list[Device] = field(default_factory=list)
    baseline: Results | None = None
    incumbents: list[Variant] = field(default_factory=list)
    # select: the baseline's primaries, which break ties.
    primaries: dict[str, str] = field(default_factory=dict)
    # What the run holds so far (the history records it if the run stops), and its bundle.
    results: Results | None = None
    bundle: Path | None = None


def pipeline_for(pm: PluginManager, workspace: Workspace, options: ShipOptions) -> Pipeline:
    """The Pipeline a run with ``options`` works through: its workers and their bounds,
    successive halving on the device when the run prunes, and the outputs it keeps for
    the gallery. ``ship``, the stage commands and a size of ``resolutions`` all make it here."""
    from edgeops.pipeline import Pipeline

    pipeline = Pipeline(
        pm,
        workspace,
        jobs=options.jobs,
        task_timeout_s=options.task_timeout_s,
        worker_memory_mb=options.worker_memory_mb,
        halving=options.prune,
    )
    pipeline.keep_outputs, pipeline.worst_k = options.keep_outputs, options.gallery_worst
    return pipeline


def run_stages(
    run: Run, results: Results | None = None, first: Stage = "convert", last: Stage = "bundle"
) -> Results:
    """The steps from ``first`` to ``last``, in the protocol's order, from ``results``."""
    run.results = results
    for stage in STAGES[STAGES.index(first) : STAGES.index(last) + 1]:
        run.results = _STEPS[stage](run, run.results)
    assert run.results is not None
    return run.results


def ship_stages(run: Run, resumed: Results | None = None) -> Results:
    """Every step of ``run`` (from ``measure`` for a ``resumed`` run's stage file), told
    to the history when it starts and when it ends, however it ends."""
    hook, workspace = run.pipeline.hook, run.pipeline.workspace.root
    spec = resumed.spec if resumed is not None else run.spec
    assert spec is not None and run.run_id is not None
    profiles = resumed.profiles if resumed is not None else run.profiles
    hook.edgeops_run_started(
        workspace=workspace,
        run_id=run.run_id,
        model=spec.name,
        version=spec.version,
        profiles=[p.id for p in profiles],
    )

    def finished(status: str, error: str | None = None) -> None:
        hook.edgeops_run_finished(
            workspace=workspace,
            run_id=run.run_id,
            status=status,
            results=run.results,
            bundle=run.bundle,
            error=error,
        )

    try:
        results = run_stages(run, resumed, first="convert" if resumed is None else "measure")
    except (Exception, KeyboardInterrupt) as exc:
        # The status the CLI's exit code agrees with: one decision (errors.run_outcome).
        error = None if isinstance(exc, KeyboardInterrupt) else one_line(exc)
        finished(run_outcome(error=exc).status, error)
        raise
    outcome = run_outcome(results.plans)
    finished(outcome.status, outcome.error)
    return results


def make_and_score(
    pipeline: Pipeline, artifact: Artifact, recipe: Recipe, results: Results
) -> Variant:
    """One variant of the sweep, made and scored on this host: a worker's whole task."""
    variant = pipeline.make_variant(artifact, recipe, results)
    return pipeline.score_variant(variant, results) if variant.status == "ok" else variant


def _convert(run: Run, _: Results | None) -> Results:
    assert run.spec is not None
    return run.pipeline.convert(run.spec, run.profiles, run.settings, run_id=run.run_id)


def _optimize(run: Run, results: Results | None) -> Results:
    assert results is not None
    results = run.pipeline.optimize(results)
    if run.journal is not None:
        run.journal.save_devices(run.devices)
    return results


def _prune(run: Run, results: Results | None) -> Results:
    from edgeops.pipeline.deciding import with_incumbents

    assert results is not None
    if run.options.prune:
        results = run.pipeline.prune(results, run.options.memory_safety_factor)
    results = with_incumbents(run.pipeline, results, run.incumbents, run.baseline)
    if run.journal is not None:
        # What a resumed run starts from: everything before any device time.
        run.journal.save_stage(results)
    return results


def _measure(run: Run, results: Results | None) -> Results:
    assert results is not None
    return run.pipeline.measure(
        results,
        run.devices,
        run.settings,
        reuse_measurements=run.options.reuse_measurements,
        journal=run.journal,
    )


def _select(run: Run, results: Results | None) -> Results:
    from edgeops.pipeline.deciding import until_decided

    assert results is not None
    results = run.pipeline.select(
        results,
        memory_safety_factor=run.options.memory_safety_factor,
        objective=run.options.objective,
        baseline_primaries=run.primaries,
    )
    if run.options.until_decided:
        results = until_decided(run, results)
    return results


def _bundle(run: Run, results: Results | None) -> Results:
    from edgeops.pipeline.bundle import default_bundle_dir

    assert results is not None
    out = run.options.out if run.options.out is not None else default_bundle_dir(results)
    run.bundle = run.pipeline.hook.edgeops_write_bundle(
        results=results, out=out, force=run.options.force
    )
    if run.bundle is None:
        raise PluginError("no installed plugin writes the bundle (edgeops_write_bundle)")
    return results


_STEPS: dict[Stage, Callable[[Run, Results | None], Results]] = {
    "convert": _convert,
    "optimize": _optimize,
    "prune": _prune,
    "measure": _measure,
    "select": _select,
    "bundle": _bundle,
}
