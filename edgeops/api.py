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
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.errors import UsageError

if TYPE_CHECKING:
    from edgeops.gate.compare import GateReport
    from edgeops.models import (
        Results,
        Variant,
    )
    from edgeops.options.ship import ShipOptions
    from edgeops.pipeline.protocol import Run


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
        """Start (or resume) the run and take it through the run protocol, which tells
        the history when it starts and how it ended (``edgeops.pipeline.protocol``)."""
        from edgeops.pipeline.protocol import ship_stages

        resumed = None
        if self.options.resume:
            resumed = self._resume()
        else:
            self._start()
        with _progress(self.pm, self.options.progress):
            return ship_stages(self._run(), resumed)

    def _start(self) -> None:
        """A new run: its spec, profiles, devices and id (the protocol records it in the history)."""
        from edgeops.devices.discovery import discover_devices
        from edgeops.devices.profiles import resolve_profiles
        from edgeops.models import MeasureSettings
        from edgeops.options.measure import RECORDED
        from edgeops.options.ship import ShipOptions
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
        safety = o.given("memory_safety_factor") or defaults.memory_safety_factor
        self.options = ShipOptions.from_keywords(o, memory_safety_factor=safety)
        self.devices = discover_devices(self.pm, o.devices)
        if self.base is None and o.keep_previous_primary:
            self.primaries = _previous_primaries(self.history, spec.name)
        self.run_id = uuid.uuid4().hex[:12]
        self.journal = self.space.journal(self.run_id)

    def _resume(self) -> Results:
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
        self.settings = results.settings
        # The run's own inventory, unless a new one is given: a resume without
        # devices must not fall back to this machine alone.
        saved = self.journal.load_devices()
        self.devices = (
            saved if o.devices is None and saved is not None
            else discover_devices(self.pm, o.devices)
        )  # fmt: skip
        return results

    def _run(self) -> Run:
        """The run's steps and what they need, for the run protocol."""
        from edgeops.pipeline.protocol import Run, pipeline_for

        pipeline = pipeline_for(self.pm, self.space, self.options)
        pipeline.cache.clear_stale_temporaries()
        resumed = self.results is not None
        return Run(
            pipeline,
            self.options,
            spec=None if resumed else self.spec,
            profiles=[] if resumed else self.profiles,
            run_id=self.run_id,
            settings=self.settings,
            journal=self.journal,
            devices=self.devices,
            baseline=self.base,
            incumbents=self.incumbents,
            primaries=self.primaries,
        )


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


def _progress(pm: Any, shown: bool) -> AbstractContextManager[Any]:
    """The progress lines on stderr for the run when ``shown`` (rich and the CLI's
    reporter are loaded only then)."""
    if not shown:
        return nullcontext()
    from edgeops.cli.progress import progress_shown

    return progress_shown(pm)


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
