"""``edgeops import``: a hand-captured benchmark_model or onnxruntime_perf_test log as a Measurement."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeops.plugin import CommandContext, UsageError, sha256_file, write_text

from .benchmark_log import parse_benchmark_log, to_measurement

# The model files each tool measures: a log of one tool is refused for another's file.
TOOL_SUFFIXES = {
    "tflite-benchmark_model": (".tflite",),
    "litert-compiledmodel-benchmark_model": (".tflite",),
    "onnxruntime_perf_test": (".onnx", ".ort"),
}


def add_import_command(subparsers: Any) -> None:
    help = "turn a hand-captured benchmark_model or onnxruntime_perf_test log into a Measurement"
    p = subparsers.add_parser("import", help=help, description=help)
    p.add_argument("logfile", type=Path, help="the log, as the tool printed it")
    p.add_argument(
        "--device-profile", required=True, help="profile of the device the log came from"
    )
    p.add_argument("--variant", type=Path, required=True, help="the model file the log measured")
    p.add_argument("--compute-unit", default="cpu", help="compute unit the log ran (default cpu)")
    p.add_argument("--device", default="imported", help="device name to record")
    p.add_argument("--add-to", type=Path, help="a results.json to add the measurement to")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(plugin_command=run_import)


def run_import(args: argparse.Namespace, context: CommandContext) -> int:
    profile = context.profile(args.device_profile)
    for path in (args.logfile, args.variant):
        if not path.is_file():
            raise UsageError(f"{path} not found; check the path")
    sha = sha256_file(args.variant)
    results = context.read_results(args.add_to) if args.add_to else None
    if results is not None and profile.id not in {p.id for p in results.profiles}:
        raise UsageError(
            f"profile {profile.id!r} is not one of the run's in {args.add_to} "
            f"({', '.join(p.id for p in results.profiles)}); pass one of them, or ship with "
            f"--profile {profile.id}"
        )
    # The variant is found in the results by its content; alone, its hash names it.
    variant_id = (
        next((v.id for v in results.variants if v.sha256 == sha), None) if results else None
    )
    if results is not None and variant_id is None:
        raise UsageError(
            f"{args.variant} is none of the variants in {args.add_to}; pass the file the log measured"
        )
    try:
        log = parse_benchmark_log(args.logfile.read_text(errors="replace"))
    except ValueError as exc:
        # A log of no run, or of two (onnxruntime#4647): bad input, one line, exit 2.
        raise UsageError(f"{args.logfile}: {exc}") from None
    if log.tool == "onnxruntime_perf_test" and log.delegates:
        (provider,) = log.delegates
        if provider.lower() != args.compute_unit.lower():
            raise UsageError(
                f"{args.logfile} ran execution provider {provider!r} (-e {provider}), but "
                f"--compute-unit is {args.compute_unit!r}; pass --compute-unit {provider}"
            )
    suffixes = TOOL_SUFFIXES.get(log.tool, ())
    if suffixes and args.variant.suffix.lower() not in suffixes:
        raise UsageError(
            f"{args.logfile} is a {log.tool} log, which measures {' or '.join(suffixes)} files, "
            f"but --variant is {args.variant.name}; pass the file the log measured"
        )
    measurement = to_measurement(
        log, variant_id or sha[:24], args.device, profile.id, args.compute_unit,
        environment={"imported_from": str(args.logfile), "variant_sha256": sha},
    )  # fmt: skip
    if log.percentiles_ms.get(50) is None and log.inference_avg_ms is not None:
        # The log holds a mean, not a median: store it as a mean. A p50 the tool never
        # printed would be compared with real medians by select and gate.
        measurement = measurement.model_copy(
            update={
                "p50_ms": None,
                "mean_ms": log.inference_avg_ms,
                "environment": {
                    **measurement.environment,
                    "p50_ms_statistic": f"none: {log.tool} prints a mean, kept as mean_ms",
                },
            }
        )
    if results is not None and args.add_to is not None:
        updated = results.model_copy(update={"measurements": (*results.measurements, measurement)})
        target = args.add_to / "results.json" if args.add_to.is_dir() else args.add_to
        write_text(target, updated.model_dump_json(indent=2) + "\n")
    if args.json:
        context.print_json(measurement.model_dump(mode="json"))
    else:
        context.console().print_json(measurement.model_dump_json())
    return 0
