"""What each CLI command does, once its arguments are parsed."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edgeops.cli.tables import sizes_by_format
from edgeops.devices.discovery import discover_devices
from edgeops.devices.profiles import load_profiles, resolve_profiles
from edgeops.errors import UsageError
from edgeops.files import write_text
from edgeops.gate.command import cmd_gate  # noqa: F401
from edgeops.models import Device, DeviceProfile, Manifest, MeasureSettings, Results
from edgeops.pipeline import Pipeline, Workspace, one_line
from edgeops.pipeline.bundle import (
    default_bundle_dir,
    read_results,
    write_bundle,
)
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.history import History
from edgeops.plugin_manager import make_plugin_manager, plugin_infos
from edgeops.studio.command import cmd_studio  # noqa: F401
from edgeops.studio.team.command import cmd_publish  # noqa: F401


def _console(stderr: bool = False) -> Any:
    from edgeops.cli.output import make_console

    return make_console(stderr=stderr)


def _print_json(value: dict[str, Any]) -> None:
    from edgeops.cli.context import json_output

    sys.stdout.write(json_output(value))


def _settings(args: argparse.Namespace, base: MeasureSettings | None = None) -> MeasureSettings:
    """``base`` (a run's own settings, else the defaults) with the measure flags given."""
    from edgeops.options.flags import options_from_args
    from edgeops.options.measure import RECORDED, MeasureOptions

    given = options_from_args(MeasureOptions, args)
    update = given.model_dump(include=set(RECORDED) & given.model_fields_set)
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
        from edgeops.options.work import WorkOptions

        work = options_from_args(WorkOptions, args)
        self.args = args
        self.pm = pm
        self.workspace = Workspace(args.workspace, refresh_cache=work.no_cache)
        # A stage run alone measures all (no pruning, no halving); one without
        # --jobs (convert, resolutions) works in this process.
        self.pipeline = Pipeline(
            pm,
            self.workspace,
            jobs=work.jobs if hasattr(args, "jobs") else 1,
            task_timeout_s=work.task_timeout_s,
            worker_memory_mb=work.worker_memory_mb,
        )
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
    from edgeops.options.flags import options_from_args
    from edgeops.options.selection import SelectionOptions

    chosen = options_from_args(SelectionOptions, args)
    pm = make_plugin_manager()
    results = read_results(args.stage_file)
    with _Run(args, pm) as run:
        results = run.pipeline.select(
            results,
            memory_safety_factor=chosen.given("memory_safety_factor"),
            objective=chosen.objective,
        )
    out = args.out or default_bundle_dir(results)
    write_bundle(results, out, force=args.force)
    _report_run(results, out, args.json)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from edgeops.pipeline import Pipeline

    spec, _ = load_spec(args.model)
    if not spec.sweep:
        raise UsageError(
            f"{args.model} has no [[sweep]] table; without one, `ship` makes the recipes "
            "the backends propose"
        )
    pipeline = Pipeline(make_plugin_manager(), Workspace(args.workspace))
    expansion = pipeline.sweep(spec)
    if args.json:
        _print_json(
            {
                "schema_version": "1.0",
                "variants": [r.model_dump(mode="json") for r in expansion.recipes],
                "dropped": [d.__dict__ for d in expansion.dropped],
                "families": expansion.families,
            }
        )
        return 0
    from rich.table import Table

    console = _console()
    made = Table(title=f"{len(expansion.recipes)} variant(s) from {len(spec.sweep)} table(s)")
    for column in ("recipe", "parameters"):
        made.add_column(column, overflow="fold")
    for recipe in expansion.recipes:
        params = "; ".join(
            [f"{s.op}: " + ", ".join(f"{k}={v}" for k, v in s.params.items()) for s in recipe.steps]
            + [
                f"{k}={v}"
                for k, v in (
                    ("deployment_target", recipe.deployment_target),
                    ("compute_precision", recipe.compute_precision),
                )
                if v
            ]
        )
        made.add_row(recipe.id, params)
    console.print(made)
    if expansion.dropped:
        dropped = Table(title=f"{len(expansion.dropped)} combination(s) dropped")
        for column in ("name", "why"):
            dropped.add_column(column, overflow="fold")
        for d in expansion.dropped:
            dropped.add_row(d.name, d.reason)
        console.print(dropped)
    return 0


def cmd_resolutions(args: argparse.Namespace) -> int:
    from edgeops.cli.resolution_command import run_resolutions

    return run_resolutions(args, _Run(args, make_plugin_manager()), _settings(args))


def cmd_report(args: argparse.Namespace) -> int:
    _report_run(read_results(args.results), None, args.json)
    return 0


# --------------------------------------------------------------------------- inventory


def cmd_profiles(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    if args.id:
        profile = resolve_profiles([args.id], pm)[0]
        if args.json:
            _print_json({"profile": profile.model_dump(mode="json")})
        else:
            _show_profile(profile)
        return 0
    profiles = load_profiles(pm)
    if args.json:
        _print_json({"profiles": [p.model_dump(mode="json") for p in profiles.values()]})
        return 0
    from rich.table import Table

    table = Table(title="device profiles", title_justify="left")
    for column in (
        "id",
        "name",
        "platform",
        "chip",
        "RAM MB",
        "app limit MB",
        "compute units",
        "formats",
    ):
        table.add_column(column)
    for p in profiles.values():
        table.add_row(
            p.id,
            p.name,
            p.platform,
            p.chip or "",
            str(p.ram_mb or ""),
            str(p.app_memory_limit_mb or ""),
            ", ".join(p.compute_units),
            ", ".join(p.formats),
        )
    _console().print(table)
    return 0


def _show_profile(profile: DeviceProfile) -> None:
    from rich.table import Table

    table = Table(title=f"profile {profile.id}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_column("source", style="dim")
    for field, value in profile.model_dump(mode="json", exclude={"sources"}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(field, shown, profile.sources.get(field, ""))
    _console().print(table)


def _commands_of(pm: Any, plugin_name: str) -> list[str]:
    """The CLI commands one plugin adds (``edgeops_add_commands``)."""
    from edgeops.plugin_manager import hook_of

    sub = argparse.ArgumentParser().add_subparsers()
    hook_of(pm, "edgeops_add_commands", plugin_name)(subparsers=sub)
    return sorted(sub.choices)


def cmd_plugins(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    infos = plugin_infos(pm)
    commands = {i.name: _commands_of(pm, i.name) for i in infos}
    if args.json:
        _print_json(
            {"plugins": [{**info.__dict__, "commands": commands[info.name]} for info in infos]}
        )
        return 0
    from rich.table import Table

    table = Table(title="plugins", title_justify="left")
    for column in ("name", "distribution", "version", "runtime", "commands", "hooks"):
        table.add_column(column)
    for info in infos:
        runtime = ""
        if info.runtime:
            runtime = f"{info.runtime}: " + (
                "importable" if info.runtime_importable else f"missing; {info.install_hint}"
            )
        table.add_row(
            info.name,
            info.distribution or "",
            info.version or "",
            runtime,
            ", ".join(commands[info.name]),
            ", ".join(info.hooks),
        )
    _console().print(table)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    pm = make_plugin_manager()
    if args.action == "trust":
        return _trust(pm, args)
    if args.action is not None:
        raise UsageError(
            f"unknown devices action {args.action!r}; use `edgeops devices [trust HOST]`"
        )
    rows = [_device_row(pm, d) for d in discover_devices(pm, args.devices)]
    if args.json:
        _print_json({"devices": rows})
        return 0
    from rich.table import Table

    table = Table(title="devices", title_justify="left")
    for column in (
        "name",
        "transport",
        "address",
        "profile",
        "reachable",
        "system",
        "runtimes",
        "lease",
    ):
        table.add_column(column, overflow="fold")
    from rich.markup import escape

    for r in rows:
        cells = (
            r["name"], r["transport"], r["address"] or "", r["profile"],
            "yes" if r["reachable"] else f"no: {r['error']}",
            " / ".join(str(r["facts"].get(k, "")) for k in ("os", "cpu", "ram_mb") if r["facts"].get(k)),
            ", ".join(f"{k} {v}" for k, v in r["facts"].get("runtimes", {}).items()),
            r["lease"],
        )  # fmt: skip
        # Names and errors from the inventory and devices are text, never rich markup.
        table.add_row(*(escape(str(c)) for c in cells))
    _console().print(table)
    for r in rows:
        if r.get("places") is not None:
            _console().print(_places_table(r))
    return 0


def _places_table(row: dict[str, Any]) -> Any:
    """A farm's places (``edgeops_device_status``): tags, who holds each, health."""
    from rich.table import Table

    table = Table(title=f"places of {row['name']}", title_justify="left")
    for column in ("place", "tags", "held by", "health", "resource"):
        table.add_column(column, overflow="fold")
    for p in row["places"]:
        table.add_row(
            p["place"], " ".join(f"{k}={v}" for k, v in sorted(p["tags"].items())),
            p["held_by"] or "free", p["health"], p["resource"] or "",
        )  # fmt: skip
    return table


def _device_row(pm: Any, device: Device) -> dict[str, Any]:
    from edgeops.devices.leases import LeaseBook, resources_of

    held = {s.resource: s for s in LeaseBook().states()}
    mine = [held[r] for r in resources_of(device) if r in held]
    lease = f"held by {mine[0].holder} ({mine[0].heartbeat_age_s:.0f} s ago)" if mine else "free"
    row: dict[str, Any] = {
        "name": device.name, "transport": device.transport, "address": device.address,
        "profile": device.profile_id, "reachable": False, "error": None, "facts": {}, "lease": lease,
    }  # fmt: skip
    status = pm.hook.edgeops_device_status(device=device)
    if status is not None:
        row.update(status)
        return row
    try:
        session = pm.hook.edgeops_connect(device=device)
        if session is None:
            raise UsageError(f"no installed plugin connects over {device.transport!r}")
        try:
            describe = getattr(session, "describe", None)
            row["facts"] = describe() if describe else {}
        finally:
            session.close()
        row["reachable"] = True
    except Exception as exc:
        row["error"] = one_line(exc)
    return row


def _trust(pm: Any, args: argparse.Namespace) -> int:
    """``devices trust HOST``: the same as the ``trust`` command the SSH backend adds."""
    from edgeops.cli.context import CommandContext

    parser = argparse.ArgumentParser(prog="edgeops")
    sub = parser.add_subparsers(dest="command")
    pm.hook.edgeops_add_commands(subparsers=sub)
    if "trust" not in sub.choices:
        raise UsageError("`devices trust` needs the ssh backend; install edgeops[ssh]")
    argv = ["trust", *([args.target] if args.target else []), *(["--json"] if args.json else [])]
    trust_args = parser.parse_args(argv)
    context = CommandContext(pm=pm, workspace=args.workspace, as_json=args.json)
    return int(trust_args.plugin_command(trust_args, context) or 0)


def cmd_history(args: argparse.Namespace) -> int:
    from edgeops.cli.spreads import spread_json, spread_output

    path = Workspace(args.workspace).history_path
    runs = History(path).runs()
    if args.json:
        _print_json({"runs": [r.as_json() for r in runs], **spread_json(path, runs)})
        return 0
    from rich.table import Table

    table = Table(title=f"runs in {args.workspace}", title_justify="left")
    for column in ("run", "started", "status", "model", "profiles", "variants", "bundle"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            r.run_id,
            r.started_at[:19],
            r.status,
            f"{r.model} {r.version}",
            r.profiles,
            str(r.variants if r.variants is not None else ""),
            r.bundle or (r.error or ""),
        )
    _console().print(table)
    if runs:
        _console().print(spread_output(path))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    schemas: dict[str, type[BaseModel]] = {
        "manifest": Manifest,
        "results": Results,
        "profile": DeviceProfile,
    }
    if args.which == "config":
        from edgeops.pipeline.config import config_schema

        schema = config_schema()
    elif args.which == "manifest":
        from edgeops.pipeline.bundle import manifest_schema

        schema = manifest_schema()
    else:
        schema = schemas[args.which].model_json_schema()
    # A JSON Schema is printed as it is: a schema_version key would make it invalid.
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """``edgeops cache prune``: free the entries not used lately."""
    from edgeops.pipeline.cache import prune

    cache = Workspace(args.workspace).cache
    older_than_s = 0.0 if args.all else args.older_than_days * 86400
    report = prune(cache, older_than_s)
    if args.json:
        _print_json({"cache": str(cache.root), **report.__dict__})
    else:
        _console().print(
            f"removed {report.entries_removed} entr{'y' if report.entries_removed == 1 else 'ies'} "
            f"({report.bytes_freed / 1e6:.1f} MB) from {cache.root}; kept {report.entries_kept}"
        )
    return 0
