"""What each CLI command does, once its arguments are parsed: ``ship`` and the stage
commands here, around one run (``_Run``); each other command in a module of its own
(``<name>_command.py``, tox's habit), imported here, where ``edgeops.cli.main`` finds it."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from edgeops.cli.cache_command import cmd_cache  # noqa: F401
from edgeops.cli.context import cli_console as _console
from edgeops.cli.context import print_json as _print_json
from edgeops.cli.devices_command import cmd_devices  # noqa: F401
from edgeops.cli.history_command import cmd_history  # noqa: F401
from edgeops.cli.plugins_command import cmd_plugins  # noqa: F401
from edgeops.cli.profiles_command import cmd_profiles  # noqa: F401
from edgeops.cli.schema_command import cmd_schema  # noqa: F401
from edgeops.cli.sweep_command import cmd_sweep  # noqa: F401
from edgeops.devices.discovery import discover_devices
from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import UsageError
from edgeops.files import write_text
from edgeops.gate.command import cmd_gate  # noqa: F401
from edgeops.models import MeasureSettings, Results
from edgeops.options.measure import MeasureOptions
from edgeops.pipeline import Workspace
from edgeops.pipeline.bundle import default_bundle_dir, read_results
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.protocol import Run, Stage, pipeline_for, run_stages
from edgeops.plugin_manager import make_plugin_manager
from edgeops.report.tables import sizes_by_format
from edgeops.studio.command import cmd_studio  # noqa: F401
from edgeops.studio.team.command import cmd_publish  # noqa: F401


def _settings(options: MeasureOptions, base: MeasureSettings | None = None) -> MeasureSettings:
    """``base`` (a run's own settings, else the defaults) with the measure flags given."""
    from edgeops.options.measure import RECORDED

    update = options.model_dump(include=set(RECORDED) & options.model_fields_set)
    return (base or MeasureSettings()).model_copy(update=update)


def _write_stage(results: Results, path: Path, as_json: bool) -> None:
    write_text(path, results.model_dump_json(indent=2) + "\n")
    if as_json:
        _print_json({"stage_file": str(path), "run_id": results.run_id})
    else:
        _console().print(f"wrote {path}")


class _Run:
    """Progress display and history bookkeeping around one run of stages."""

    def __init__(self, args: argparse.Namespace, pm: Any) -> None:
        from edgeops.options.flags import options_from_args
        from edgeops.options.ship import ShipOptions

        # The command's own flags, by the fields ship's are made from. A stage run
        # alone measures all (no pruning, no halving: a size of `resolutions` too,
        # so its table compares every variant); one without --jobs (convert,
        # resolutions) works in this process.
        self.options = ShipOptions.from_keywords(
            options_from_args(ShipOptions, args),
            prune=False,
            jobs=None if hasattr(args, "jobs") else 1,
        )
        self.args = args
        self.pm = pm
        self.workspace = Workspace(args.workspace, refresh_cache=self.options.no_cache)
        self.pipeline = pipeline_for(pm, self.workspace, self.options)
        self.stack = ExitStack()

    def stages(self, first: Stage, last: Stage, results: Results | None, **given: Any) -> Results:
        """The run protocol's steps ``first`` to ``last`` (edgeops.pipeline.protocol): a stage
        command runs its own span of the one order ``ship`` runs whole."""
        self.protocol = Run(self.pipeline, self.options, **given)
        return run_stages(self.protocol, results, first, last)

    def __enter__(self) -> _Run:
        from edgeops.cli.progress import progress_shown

        self.stack.enter_context(progress_shown(self.pm))
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


# --------------------------------------------------------------------------- ship and stages


def cmd_ship(args: argparse.Namespace) -> int:
    """``edgeops ship``: :func:`edgeops.api.ship`, then its tables or JSON and the exit code."""
    from edgeops.api import ship
    from edgeops.errors import EXIT_DEVICE_FAILED, EXIT_NOT_SHIPPED, run_outcome
    from edgeops.options.flags import options_from_args
    from edgeops.options.ship import ShipCommandOptions, ShipOptions

    # Every flag checked before any work: the same checks as the API's keywords.
    options = options_from_args(ShipOptions, args)
    command = options_from_args(ShipCommandOptions, args)
    samples = _samples_from(args) if command.samples_from else None
    results = ship(
        options=ShipOptions.from_keywords(options, workspace=args.workspace, samples=samples)
    )
    out = args.out or default_bundle_dir(results)
    _report_run(results, out, args.json)
    if command.publish and out.is_dir():
        from edgeops.studio.team.publish import publish

        sent = publish(out, command.publish)
        sys.stderr.write(f"edgeops: published run {sent.run_id} to the team store: {sent.state}\n")
    tracebacks = Workspace(args.workspace).journal(results.run_id).folder / "tracebacks"
    if tracebacks.is_dir():
        sys.stderr.write(f"edgeops: full tracebacks of what failed: {tracebacks}\n")
    # The same decision the history recorded (edgeops.errors.run_outcome).
    outcome = run_outcome(results.plans)
    code = outcome.exit_code(allow_unsupported=command.allow_unsupported)
    if code == EXIT_DEVICE_FAILED:
        sys.stderr.write(
            "edgeops: error: "
            + " ".join(
                f"profile {profile}: {note}; fix the device and run "
                f"`edgeops ship --resume {results.run_id}` to measure it again."
                for profile, note in outcome.device_failed
            )
            + "\n"
        )
    elif code == EXIT_NOT_SHIPPED:
        which = ", ".join(f"{profile} ({status})" for profile, status in outcome.not_shipped)
        sys.stderr.write(
            f"edgeops: error: no variant ships for {which}; the bundle at {out} says why. "
            "Fix the floor, budget or device, or pass --allow-unsupported to exit 0\n"
        )
    return code


def _samples_from(args: argparse.Namespace) -> Path:
    """``ship --samples-from``: the studio's sample set, fitted to the model's inputs."""
    from edgeops.studio.team.samples_from import fetch_samples

    if args.model is None:
        raise UsageError("--samples-from needs a MODEL; it does not apply to --resume")
    spec, _ = load_spec(args.model, task=args.task, name=args.name, version=args.model_version)
    return fetch_samples(args.samples_from, spec.inputs, Path(args.workspace))


def _report_run(results: Results, bundle: Path | None, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "bundle": str(bundle) if bundle else None,
                "run_id": results.run_id,
                "model": {"name": results.spec.name, "version": results.spec.version},
                "samples": results.samples.model_dump(mode="json") if results.samples else None,
                "variants": [v.model_dump(mode="json") for v in results.variants],
                "measurements": [m.model_dump(mode="json") for m in results.measurements],
                "plans": [p.model_dump(mode="json") for p in results.plans],
                "sizes_by_format": sizes_by_format(results),
                "cache": results.cache.model_dump(),
            }
        )
        return
    from edgeops.report.tables import rich_tables

    console = _console()
    for table in rich_tables(results):
        console.print(table)
    if results.samples and results.samples.synthetic:
        console.print(
            "[yellow]note:[/] no samples were given, so quality was measured on random inputs; "
            "set `samples` in edgeops.toml for figures that mean something"
        )
    c = results.cache
    if c.conversions_made == 0 and c.optimizations_made == 0:
        console.print(
            f"cache: nothing converted or optimized; reused {c.conversions_reused} conversion(s), "
            f"{c.optimizations_reused} variant(s), {c.measurements_reused} measurement(s)"
        )
    else:
        console.print(
            f"cache: converted {c.conversions_made}, optimized {c.optimizations_made}; reused "
            f"{c.conversions_reused} conversion(s), {c.optimizations_reused} variant(s)"
        )
    if bundle:
        console.print(f"bundle: {bundle}")


def cmd_convert(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    spec, defaults = load_spec(
        args.model, task=args.task, name=args.name, version=args.model_version
    )
    profiles = resolve_profiles(args.profile or list(defaults.profiles) or ["host"], pm)
    with _Run(args, pm) as run:
        results = run.stages("convert", "convert", None, spec=spec, profiles=profiles)
    _write_stage(results, args.output, args.json)
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    with _Run(args, pm) as run:
        results = run.stages("optimize", "optimize", results)
    _write_stage(results, args.output, args.json)
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    if not results.variants:
        raise UsageError(f"{args.stage_file} has no variants; run `edgeops optimize` on it first")
    with _Run(args, pm) as run:
        results = run.stages(
            "measure", "measure", results, devices=discover_devices(pm),
            settings=_settings(run.options, results.settings),
        )  # fmt: skip
    _write_stage(results, args.output, args.json)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    run = _Run(args, make_plugin_manager())  # its flags checked before the stage file is read
    results = read_results(args.stage_file)
    with run:
        results = run.stages("select", "bundle", results)
    _report_run(results, run.protocol.bundle, args.json)
    return 0


def cmd_resolutions(args: argparse.Namespace) -> int:
    from edgeops.cli.resolution_command import run_resolutions

    run = _Run(args, make_plugin_manager())
    return run_resolutions(args, run, _settings(run.options))


def cmd_report(args: argparse.Namespace) -> int:
    _report_run(read_results(args.results), None, args.json)
    return 0
