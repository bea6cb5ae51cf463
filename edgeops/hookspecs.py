"""Every hook edgeops calls (DESIGN §4).

A plugin implements any of them with ``@edgeops.hookimpl`` and takes only the
arguments it uses. A backend returns ``None`` for work that is not its own
(another format, another transport), so the next plugin gets its turn.

"firstresult" hooks stop at the first non-None answer; "collect" hooks gather
every plugin's answer into a list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from edgeops.backend import BuildContext
    from edgeops.devices.device_quality import DeviceScore
    from edgeops.devices.scheduling import MeasureJob, MeasureRunner
    from edgeops.devices.sessions import Session
    from edgeops.models import (
        Artifact,
        ComputeUnit,
        Device,
        DeviceProfile,
        Measurement,
        MeasureSettings,
        ModelSpec,
        Plan,
        Quality,
        QualitySpec,
        Recipe,
        ReferenceOutputs,
        Results,
        SampleSet,
        SelectionPolicy,
        Variant,
    )
    from edgeops.pipeline.sweep import RecipeFamily

PROJECT = "edgeops"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- profiles


@hookspec
def edgeops_profile_dirs() -> list[Path]:  # type: ignore[empty-body]
    """Folders of extra device profiles (``*.toml``), collected from every plugin.

    Returns a list of folders. Profiles there are added to the built-in ones; an
    id defined twice is an error naming both files.
    """


# --------------------------------------------------------------------------- convert


@hookspec
def edgeops_conversion_inputs(spec: ModelSpec, target: str) -> list[str]:  # type: ignore[empty-body]
    """Formats the conversion of ``spec`` into ``target`` starts from, e.g. ``["onnx"]``.

    The pipeline converts those first and hands them to ``edgeops_convert``, so an
    export is done once per run. Collected; return ``[]`` for another target.
    """


@hookspec(firstresult=True)
def edgeops_convert(
    spec: ModelSpec, target: str, workdir: Path, artifacts: list[Artifact], context: BuildContext
) -> Artifact | None:
    """Convert ``spec.source`` into one whole model of format ``target`` (e.g. "onnx").

    ``artifacts`` are the conversions made so far in this run (those named by
    ``edgeops_conversion_inputs`` among them): start from one rather than export
    again. Write the file inside ``workdir`` (an empty folder the cache renames
    into place). Return the Artifact, or None when this plugin cannot make
    ``target`` from that source. Raise ModelError for a source that is corrupt or
    unsupported. First non-None result wins. ``context`` (``edgeops.plugin.BuildContext``)
    holds the spec and those artifacts too.
    """


@hookspec(firstresult=True)
def edgeops_reference(
    spec: ModelSpec, samples: SampleSet, workdir: Path
) -> ReferenceOutputs | None:
    """Run the source model, in its own framework and in fp32, on every sample.

    This is what every variant's quality is measured against. Write an .npz in
    ``workdir`` and return it, or None when the source is not this plugin's.
    First non-None result wins.
    """


# --------------------------------------------------------------------------- optimize


@hookspec
def edgeops_recipes(artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:  # type: ignore[empty-body]
    """The sweep: recipes worth making from ``artifact`` for these target profiles.

    Collected from every plugin; return an empty list for another format.
    """


@hookspec
def edgeops_recipe_catalog() -> list[str]:  # type: ignore[empty-body]
    """Every recipe id (``format:name``) this plugin may propose, for any model and profiles.

    A config's ``recipes = [...]`` is checked against the union before any work, so a
    typo is an error naming the known ones, not a silently smaller sweep. Collected.
    """


@hookspec
def edgeops_recipe_families() -> list[RecipeFamily]:  # type: ignore[empty-body]
    """Kinds of recipe this plugin makes from typed parameters, for ``[[sweep]]`` tables.

    A family (``edgeops.plugin.RecipeFamily``) names its format, its step classes in
    order and fixed recipe fields; a table's keys are those steps' fields. The
    pipeline stamps the recipes it expands with this plugin as their owner. Collected.
    """


@hookspec(firstresult=True)
def edgeops_optimize(
    artifact: Artifact, recipe: Recipe, workdir: Path, samples: SampleSet, context: BuildContext
) -> Variant | None:
    """Apply ``recipe`` to ``artifact`` and return the Variant written in ``workdir``.

    ``samples`` are the calibration inputs for recipes that need them (static
    int8); a recipe that does not need them leaves the argument out. ``context``
    (``edgeops.plugin.BuildContext``) holds the run's spec, samples, reference
    outputs and conversions, so nothing is saved beside the artifact to be read back.
    Return None when the recipe is another plugin's. Raise StageError (or any
    exception) when it fails: the pipeline records the variant as an error and
    goes on. First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_estimate(artifact: Artifact, recipe: Recipe, context: BuildContext) -> Quality | None:
    """A quick host estimate of the quality ``recipe`` would give ``artifact``, without
    making its file (``Backend.estimate``), or None when the plugin has none.

    A ``keep_float = "auto"`` search ranks layers by it when it answers for every
    layer; every variant the search keeps or tries is still made and scored
    (``edgeops_optimize``, ``edgeops_evaluate``). Called only on the recipe's owner.
    First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_evaluate(
    variant: Variant,
    reference: ReferenceOutputs,
    samples: SampleSet,
    spec: ModelSpec,
    outputs_dir: Path,
    context: BuildContext,
) -> Quality | None:
    """Host-side quality of ``variant`` against the reference outputs.

    ``context`` (``edgeops.plugin.BuildContext``) holds the same spec, samples and
    reference, and the run's conversions.

    Run the variant on every sample and compare with ``edgeops.quality.compare``
    so every backend reports the same metrics for a task. Pass
    ``keep=outputs_dir`` to ``compare_with_reference`` (it writes the outputs
    there as ``outputs.npz``) so the report and ``edgeops studio`` can show them;
    a plugin that does not simply has no sample gallery. Return None for a
    format this plugin cannot run. First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_prune(
    variants: list[Variant],
    profiles: list[DeviceProfile],
    quality: QualitySpec,
    memory_safety_factor: float,
) -> list[Variant] | None:
    """Rule variants out on the host, before any device time: return ``variants`` in their
    order, each with ``pruned`` filled in (profile id, or ``"*"`` for every profile, to the
    reason); variants that failed to build are returned as they are.

    ``quality`` is the spec's floors; ``memory_safety_factor`` the share of a profile's app
    memory limit a variant may use. The core's rules (``edgeops.pipeline.pruning``) are
    ``trylast``; a plugin may replace them. First non-None result wins.
    """


# --------------------------------------------------------------------------- devices


@hookspec
def edgeops_discover_devices(  # type: ignore[empty-body]
    inventory: Path | None, connect: Callable[[Device], Session]
) -> list[Device]:
    """Devices this plugin can reach, from the inventory file or its own discovery.

    Collected from every plugin. ``inventory`` is the ``--devices`` file or None.
    ``connect`` opens a Session through whichever plugin connects that transport
    (``edgeops_connect``), for discovery that asks a device what hangs off it
    (the iPhones tethered to a Mac); close what you open.
    """


@hookspec(firstresult=True)
def edgeops_device_status(device: Device) -> dict[str, Any] | None:
    """What ``edgeops devices`` shows for ``device`` when connecting to it is not the way
    to ask (a farm's device stands for its places): a dict with any of ``reachable``
    (bool), ``error``, ``facts``, ``lease`` (who holds it), and ``places`` (a list of
    dicts, one per place: ``place``, ``tags``, ``held_by``, ``health``, ``resource``),
    shown as a table of its own. Return None to let ``edgeops devices`` connect.
    First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_evaluate_on_device(
    session: Session,
    variant: Variant,
    compute_unit: str,
    context: BuildContext,
    outputs_dir: Path | None,
) -> DeviceScore | None:
    """``variant``'s quality on the outputs the session's device itself returned for the
    first samples (``where: device``), judged against its host score
    (``edgeops.devices.device_quality.score_on_device``); None when no backend of its
    format gets outputs from a device. The outputs go to ``outputs_dir/outputs.npz`` when
    it is given (the report's gallery). First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_connect(device: Device) -> Session | None:
    """Open a Session to ``device``, or None for another transport.

    Raise DeviceError, naming the fix, when the device cannot be reached.
    First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_measure(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement | None:
    """Measure ``variant`` on the session's device with ``compute_unit``, one round.

    One call is one fresh process on the device; the pipeline interleaves
    rounds across variants and merges them. Return None when this plugin cannot
    run that format on that device with that compute unit. Failures on the
    device (OOM, load failure, timeout) are a Measurement with that status, not
    an exception. First non-None result wins.
    """


@hookspec
def edgeops_variant_unfit(variant: Variant, profile: DeviceProfile) -> str | None:
    """Why ``variant`` cannot run on ``profile``'s devices at all, or None.

    E.g. a Core ML variant with an iOS 17 deployment target on an iPhone X, whose
    chip stops at iOS 16. Such a variant is ruled out for that profile before any
    device time or prediction, with the reason. Collected from every plugin.
    """


@hookspec(firstresult=True)
def edgeops_execute_measurements(
    jobs: list[MeasureJob], settings: MeasureSettings, runner: MeasureRunner
) -> bool | None:
    """Run every job for ``settings.rounds`` rounds: where, when and in what order.

    ``runner`` connects (``runner.connect``), measures one round
    (``runner.measure``), records it (``runner.record``), says how many rounds a
    job has (``runner.rounds_done``, a resumed run has some) and whether it failed
    (``runner.finished``); ``runner.stop`` is set on Ctrl-C or SIGTERM. Alternate the
    order of rounds (A B C, C B A) so drift falls on every variant alike, and never
    run two measurements on one device at once. Return True when done, or None
    when these jobs are not this plugin's (a device farm answers only for its own
    devices). The core's default, ``trylast``, is a thread per device with SQLite
    leases on this machine. First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_predict(
    profile: DeviceProfile, variant: Variant, compute_unit: str
) -> Measurement | None:
    """Estimate a Measurement for a profile with no device attached.

    The result must have ``method="predicted"``. Return None when there is no
    basis for an estimate. First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_adapt_predictions(
    profile: DeviceProfile, predictions: list[Measurement], measurements: list[Measurement]
) -> list[Measurement] | None:
    """Correct a profile's predictions from the measurements it also has.

    ``measurements`` are this profile's measured figures (e.g. imported with
    ``edgeops import --add-to``). Return the predictions corrected (still
    ``method="predicted"``, with their intervals), or None to leave them as they are.
    First non-None result wins.
    """


# --------------------------------------------------------------------------- select


@hookspec
def edgeops_compute_units() -> list[ComputeUnit]:  # type: ignore[empty-body]
    """The compute units this plugin's backends run on, and what each requires.

    E.g. Core ML's ``cpu_and_ne`` requires ``("ane",)``; TFLite's ``xnnpack`` runs
    anywhere. Selection reads them to order fallbacks and to fill each choice's
    ``requires``; a unit nobody declares is taken to need an accelerator of its own
    name. Collected from every plugin; one name declared two ways is an error.
    """


@hookspec(firstresult=True)
def edgeops_select(
    profile: DeviceProfile,
    variants: list[Variant],
    measurements: list[Measurement],
    policy: SelectionPolicy,
) -> Plan | None:
    """Choose the primary variant and its fallbacks for one profile.

    ``measurements`` are this profile's only. The core's policy is ``trylast``;
    a plugin may override it. First non-None result wins.
    """


@hookspec(firstresult=True)
def edgeops_write_bundle(results: Results, out: Path, force: bool) -> Path | None:
    """Write the release bundle of a selected run to the folder ``out`` and return it.

    ``force`` replaces what is there. The core's bundle (``edgeops.pipeline.bundle``:
    manifest.json, results.json, the reports and the chosen files, built in a temporary
    folder and renamed into place) is ``trylast``. First non-None result wins.
    """


# --------------------------------------------------------------------------- history


@hookspec
def edgeops_run_started(
    workspace: Path, run_id: str, model: str, version: str, profiles: list[str]
) -> None:
    """A run of ``ship`` began (or resumed) in the workspace folder ``workspace``.

    The core records it as running in the workspace's history
    (``edgeops.pipeline.history``), and refuses a resume of a run whose owner is alive
    (``RunBusyError``). Collected from every plugin.
    """


@hookspec
def edgeops_run_finished(
    workspace: Path,
    run_id: str,
    status: str,
    results: Results | None,
    bundle: Path | None,
    error: str | None,
) -> None:
    """A run of ``ship`` ended: ``status`` is ``ok``, ``unsupported``, ``device_failed``,
    ``failed`` or ``interrupted`` (``edgeops.errors.run_outcome``), ``results`` what it
    had made by then, ``bundle`` its release folder, ``error`` one line for a failure.

    The core records it in the workspace's history. Collected from every plugin.
    """


# --------------------------------------------------------------------------- commands


@hookspec
def edgeops_add_commands(subparsers: Any) -> None:
    """Add top-level ``edgeops`` commands (argparse), in the manner of llm's ``register_commands``.

    ``subparsers`` is the CLI's ``add_subparsers()`` object::

        p = subparsers.add_parser("import", help="...", description="...")
        p.add_argument("logfile", type=Path)
        p.set_defaults(plugin_command=run)   # run(args, context: CommandContext) -> int

    ``context`` (``edgeops.plugin.CommandContext``) gives the plugin manager, the
    workspace, profile lookup and output helpers. Raise an EdgeopsError for a
    one-line error; the exit code is the returned int. Collected from every plugin.
    """


# --------------------------------------------------------------------------- observers


@hookspec
def edgeops_stage_started(stage: str, total: int) -> None:
    """A stage began with ``total`` items of work (0 when unknown)."""


@hookspec
def edgeops_stage_advanced(stage: str, label: str, outcome: str, reason: str) -> None:
    """One item of ``stage`` finished; ``label`` names it (a variant, a device).

    ``outcome`` says how it ended, so an observer can count them:

    - ``made``: converted or optimized now; ``cached``: reused from the cache (in
      ``measure``, a measurement ``--reuse-measurements`` took, or a round an
      interrupted run's journal already held);
    - ``scored``: host quality measured (``evaluate``);
    - ``kept``: passed the host's pruning rules (``prune``);
    - ``measured``: a round on a device ended ``ok``;
    - ``failed``: it did not work; ``reason`` says why, in one line;
    - ``pruned``: ruled out without device time: below the quality floor, dominated,
      too large for a profile, or stopped by successive halving; ``reason`` says why;
    - ``unsupported``: no installed plugin does this work here;
    - in ``select``, the profile's plan status (``supported``, ``unsupported``, ...).

    ``reason`` is ``""`` for the plain outcomes. Both arguments came after
    ``label``; an implementation written before them takes only the arguments it
    uses (pluggy), so it keeps working unchanged.
    """


@hookspec
def edgeops_stage_finished(stage: str, summary: str) -> None:
    """A stage ended; ``summary`` is one line about what it did."""


@hookspec
def edgeops_measured(measurement: Measurement) -> None:
    """A measurement round finished (merged later); observers may show or store it."""
