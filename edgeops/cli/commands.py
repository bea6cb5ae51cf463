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
from edgeops.cli.tables import sizes_by_format
from edgeops.devices.discovery import discover_devices
from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import UsageError
from edgeops.files import write_text
from edgeops.gate.command import cmd_gate  # noqa: F401
from edgeops.models import MeasureSettings, Results
from edgeops.pipeline import Pipeline, Workspace
from edgeops.pipeline.bundle import (
    default_bundle_dir,
    read_results,
    write_bundle,
)
from edgeops.pipeline.config import load_spec
from edgeops.plugin_manager import make_plugin_manager
from edgeops.studio.command import cmd_studio  # noqa: F401
from edgeops.studio.team.command import cmd_publish  # noqa: F401


def _settings(args: argparse.Namespace, base: MeasureSettings | None = None) -> MeasureSettings:
    base = base or MeasureSettings()
    updates = {
        "rounds": args.rounds,
        "min_runs": args.min_runs,
        "min_duration_s": args.min_duration_s,
        "threads": args.threads,
        "paced_fps": getattr(args, "paced_fps", None),
        "paced_duration_s": getattr(args, "paced_duration_s", None),
    }
    return base.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _write_stage(results: Results, path: Path, as_json: bool) -> None:
    write_text(path, results.model_dump_json(indent=2) + "\n")
    if as_json:
        _print_json({"stage_file": str(path), "run_id": results.run_id})
    else:
        _console().print(f"wrote {path}")


class _Run:
    """Progress display and history bookkeeping around one run of stages."""

    def __init__(self, args: argparse.Namespace, pm: Any) -> None:
        self.args = args
        self.pm = pm
        self.workspace = Workspace(args.workspace, refresh_cache=getattr(args, "no_cache", False))
        self.pipeline = Pipeline(
            pm,
            self.workspace,
            jobs=getattr(args, "jobs", 1),
            task_timeout_s=getattr(args, "task_timeout_s", 1800.0),
            worker_memory_mb=getattr(args, "worker_memory_mb", None),
            # ship prunes and halves unless told not to; a stage run alone measures all.
            halving=getattr(args, "no_prune", True) is False,
        )
        for name in ("keep_outputs", "gallery_worst"):
            if getattr(args, name, 0) < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be 0 or more")
        self.pipeline.keep_outputs = getattr(args, "keep_outputs", self.pipeline.keep_outputs)
        self.pipeline.worst_k = getattr(args, "gallery_worst", self.pipeline.worst_k)
        self.stack = ExitStack()

    def __enter__(self) -> _Run:
        from edgeops.cli.progress import ProgressReporter

        reporter = self.stack.enter_context(ProgressReporter(_console(stderr=True)))
        self.pm.register(reporter, name="edgeops.cli.progress")
        self.stack.callback(self.pm.unregister, reporter)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()


# --------------------------------------------------------------------------- ship and stages


def cmd_ship(args: argparse.Namespace) -> int:
    """``edgeops ship``: :func:`edgeops.api.ship`, then its tables or JSON and the exit code."""
    from edgeops.api import ship
    from edgeops.errors import EXIT_DEVICE_FAILED, EXIT_NOT_SHIPPED, run_outcome

    samples = _samples_from(args) if getattr(args, "samples_from", None) else None
    results = ship(
        args.model,
        args.profile,
        out=args.out,
        devices=args.devices,
        workspace=args.workspace,
        task=args.task,
        name=args.name,
        version=args.model_version,
        rounds=args.rounds,
        min_runs=args.min_runs,
        min_duration_s=args.min_duration_s,
        threads=args.threads,
        paced_fps=getattr(args, "paced_fps", None),
        paced_duration_s=getattr(args, "paced_duration_s", None),
        memory_safety_factor=args.memory_safety_factor,
        reuse_measurements=args.reuse_measurements,
        no_cache=args.no_cache,
        prune=not args.no_prune,
        jobs=args.jobs,
        task_timeout_s=args.task_timeout_s,
        worker_memory_mb=args.worker_memory_mb,
        keep_outputs=args.keep_outputs,
        gallery_worst=args.gallery_worst,
        baseline=args.baseline,
        until_decided=args.until_decided,
        max_extra_rounds=args.max_extra_rounds,
        keep_previous_primary=not args.ignore_previous,
        objective=args.objective,
        force=args.force,
        resume=args.resume,
        samples=samples,
    )
    out = args.out or default_bundle_dir(results)
    _report_run(results, out, args.json)
    if getattr(args, "publish", None) and out.is_dir():
        from edgeops.studio.team.publish import publish

        sent = publish(out, args.publish)
        sys.stderr.write(f"edgeops: published run {sent.run_id} to the team store: {sent.state}\n")
    tracebacks = Workspace(args.workspace).journal(results.run_id).folder / "tracebacks"
    if tracebacks.is_dir():
        sys.stderr.write(f"edgeops: full tracebacks of what failed: {tracebacks}\n")
    # The same decision the history recorded (edgeops.errors.run_outcome).
    outcome = run_outcome(results.plans)
    code = outcome.exit_code(allow_unsupported=args.allow_unsupported)
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
    from edgeops.cli.tables import rich_tables

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
        results = run.pipeline.convert(spec, profiles)
    _write_stage(results, args.output, args.json)
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    with _Run(args, pm) as run:
        results = run.pipeline.optimize(results)
    _write_stage(results, args.output, args.json)
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    if not results.variants:
        raise UsageError(f"{args.stage_file} has no variants; run `edgeops optimize` on it first")
    with _Run(args, pm) as run:
        results = run.pipeline.measure(
            results,
            discover_devices(pm),
            _settings(args, results.settings),
            reuse_measurements=args.reuse_measurements,
        )
    _write_stage(results, args.output, args.json)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    with _Run(args, pm) as run:
        results = run.pipeline.select(
            results, memory_safety_factor=args.memory_safety_factor, objective=args.objective
        )
    out = args.out or default_bundle_dir(results)
    write_bundle(results, out, force=args.force)
    _report_run(results, out, args.json)
    return 0


def cmd_resolutions(args: argparse.Namespace) -> int:
    from edgeops.cli.resolution_command import run_resolutions

    return run_resolutions(args, _Run(args, make_plugin_manager()), _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    _report_run(read_results(args.results), None, args.json)
    return 0
