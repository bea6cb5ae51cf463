"""Full int8, mixed (keep_float = "auto") and float, side by side: quality, size, host latency.

Ships the two models of issue 25's tests to the ``host`` profile with a sweep of
full-int8 recipes crossed with ``keep_float = ["none", "auto"]``, in a temporary
workspace, and prints one Markdown table row per variant: the floor metric,
file size, host p50 (measured here by the local probe) and the layers kept in
float. The models (built in code, nothing downloaded):

- ``tests/tiny_detector.py``: anchor-free detector whose output Concat mixes
  pixel boxes with [0, 1] scores (metric: its ``score_fidelity``);
- ``tests/sensitive_segmenter.py``: the example segmenter (its committed weights)
  with a dead channel carrying an outlier weight in its last convolution
  (metric: IoU); not in the default run (its search is one variant per layer, 55);
- ``tests/tiny_outlier_net.py``: eight 16-channel convolutions, one with an
  outlier weight that one int8 scale per tensor cannot hold (metric: its
  ``fidelity``); the Core ML model (``--formats coreml --models outliers``).

    python3 benchmarks/keep_float.py [--formats onnx,tflite] [--models detector,segmenter]
    python3 benchmarks/keep_float.py --formats coreml --models outliers
    python3 benchmarks/keep_float.py --formats coreai --models segmenter --float-layers head.1
    python3 benchmarks/keep_float.py --formats coreml --recipes coreml:w8a8 --models detector,segmenter

Core ML has no runtime on Linux: its quality is the host estimate (the file's
weights, decompressed, run by torch); Core AI's is its own runtime's run (it runs
on Linux), but its latency needs macOS 27. Neither has a host latency here ("-");
their variants are made for the ``host`` profile with its formats set to theirs.
``--no-measure`` does the same for ONNX Runtime and TFLite (no latency).

``--float-layers`` replaces the search by full int8 and one explicit mix with
those layers in float, for where the search is too long to run (Core AI converts
the segmenter in minutes per variant under load). TFLite goes through onnx2tf,
about a minute per model here; its segmenter search makes one converter run per
quantized layer.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"

MODELS = {
    "detector": (
        TESTS / "tiny_detector.py",
        "generic",
        (1, 3, 64, 64),
        f'"{TESTS / "tiny_detector.py"}:score_fidelity"',
        0.99,
    ),
    "segmenter": (TESTS / "sensitive_segmenter.py", "segmentation", (1, 3, 128, 128), '"iou"', 0.9),
    "outliers": (
        TESTS / "tiny_outlier_net.py",
        "generic",
        (1, 3, 16, 16),
        f'"{TESTS / "tiny_outlier_net.py"}:fidelity"',
        0.98,
    ),
}

# One tuple of [[sweep]] tables per format; ``--recipes`` keeps only some of them.
SWEEPS = {
    "onnx": ('[[sweep]]\nrecipe = "onnx:quantize_static"\nkeep_float = ["none", "auto"]\n',),
    "tflite": (
        '[[sweep]]\nrecipe = "tflite:quantize"\noptimize = true\nops = "int8"\n'
        'calibrate = true\nkeep_float = ["none", "auto"]\n',
    ),
    "coreml": (
        # One scale per tensor: the granularity the outlier breaks (per channel would not).
        '[[sweep]]\nrecipe = "coreml:linear_quantize"\ndtype = "int8"\n'
        'granularity = "per_tensor"\nkeep_float = ["none", "auto"]\n',
        # W8A8 (activations too, calibrated in torch): where int8 breaks a segmenter.
        '[[sweep]]\nrecipe = "coreml:w8a8"\nkeep_float = ["none", "auto"]\n',
    ),
    # Per channel (coreai-opt's int8 preset): the segmenter's one-channel head is per tensor.
    "coreai": (
        '[[sweep]]\nrecipe = "coreai:quantize"\ndtype = "int8"\nkeep_float = ["none", "auto"]\n',
        # W8A8 (activations too, calibrated on the samples): where int8 breaks the detector.
        '[[sweep]]\nrecipe = "coreai:w8a8"\nkeep_float = ["none", "auto"]\n',
    ),
}


def sweeps(formats: list[str], recipes: str = "") -> str:
    """The formats' tables, only those of ``recipes`` (comma-separated ids) when given."""
    wanted = set(filter(None, recipes.split(",")))
    tables = [t for f in formats for t in SWEEPS[f]]
    return "\n".join(
        t for t in tables if not wanted or re.search(r'recipe = "([\w:-]+)"', t)[1] in wanted
    )


def config(name: str, formats: list[str], float_layers: str = "", recipes: str = "") -> str:
    """The model's edgeops.toml; ``float_layers`` (comma-separated names) replaces the
    search by full int8 and one explicit mix (where the search is too long to run)."""
    source, task, shape, metric, floor = MODELS[name]
    tables = sweeps(formats, recipes)
    if float_layers:
        names = ", ".join(f'"{n}"' for n in float_layers.split(","))
        # Each table twice: as it is, full int8, and named "<family>-kept" with the layers.
        kept = re.sub(
            r'recipe = "\w+:([\w-]+)"\n',
            lambda m: f'{m.group(0)}name = "{m.group(1)}-kept"\n',
            tables.replace('keep_float = ["none", "auto"]', f"float_layers = [[{names}]]"),
        )
        tables = (
            tables.replace('keep_float = ["none", "auto"]', 'keep_float = "none"') + "\n" + kept
        )
    return (
        f'[model]\nname = "{name}"\nsource = "{source}:build"\nsamples = "{source}:samples"\n'
        f'task = "{task}"\nsample_count = 8\n\n[[model.inputs]]\nname = "image"\n'
        f"shape = {list(shape)}\n\n[model.quality]\nmetric = {metric}\nfloor = {floor}\n\n" + tables
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--models", default="detector")
    parser.add_argument(
        "--float-layers",
        default="",
        help="instead of the search: full int8 and these layers (comma-separated) in float",
    )
    parser.add_argument(
        "--recipes",
        default="",
        help="only these recipes' tables (comma-separated ids, e.g. coreml:w8a8)",
    )
    parser.add_argument(
        "--no-measure",
        action="store_true",
        help="optimize and score on the host only, no latency (a long search under load)",
    )
    args = parser.parse_args()
    formats = args.formats.split(",")
    # Only the backends asked for; the others' formats would add variants not compared here.
    # ONNX Runtime stays: it makes the torch source's reference outputs (and TFLite's
    # input); its rows are printed only when asked for.
    others = {"onnx", "tflite", "coreml", "coreai", "executorch"} - set(formats)
    others.discard("onnx")
    os.environ["EDGEOPS_DISABLE_PLUGINS"] = ",".join(sorted(others))
    from edgeops.api import ship

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(
        "| model | variant | metric | value | floor | size (KB) | host p50 (ms) | layers in float |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ranked: list[tuple[str, Any]] = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "edgeops.toml").write_text(
                config(name, formats, args.float_layers, args.recipes)
            )
            started = time.perf_counter()
            results = (
                estimated(folder, formats)
                if args.no_measure or set(formats) <= {"coreml", "coreai"}
                else ship(
                    folder,
                    ["host"],
                    out=folder / "dist",
                    workspace=folder / ".edgeops",
                    rounds=3,
                    min_runs=20,
                    min_duration_s=0.5,
                    threads=1,
                    prune=False,
                    jobs=1,
                    progress=False,
                )
            )
            print(f"({name}: {time.perf_counter() - started:.0f} s)")
            metric = results.spec.quality.metric
            for variant in [v for v in results.variants if v.format in formats]:
                # Core ML's and Core AI's float row: the converted base (Core ML: fp16
                # weights; Core AI: fp32), scored by the search itself.
                if variant.kept_float and variant.format in ("coreml", "coreai"):
                    base = next(a for a in results.artifacts if a.id == variant.parent)
                    print(
                        f"| {name} | {variant.format} (base) | {metric} | "
                        f"{variant.kept_float.float_value:.4f} | {results.spec.quality.floor:g} | "
                        f"{(base.size_bytes or 0) / 1024:.0f} | - | all |"
                    )
                p50 = [
                    m.p50_ms
                    for m in results.measurements
                    if m.variant_id == variant.id and m.method == "measured" and m.p50_ms
                ]
                value = variant.quality.metrics.get(metric) if variant.quality else None
                kept = variant.kept_float
                steps = variant.recipe.steps if variant.recipe else ()
                given = next(
                    (x.params["float_layers"] for x in steps if x.params.get("float_layers")), None
                )
                layers = (
                    f"{len(kept.layers)} of {kept.total_layers}: "
                    + ", ".join(f"{layer.name} ({layer.op})" for layer in kept.layers)
                    if kept
                    else f"{len(given)} of {len(given) + len(variant.quantized_layers)}: "
                    + ", ".join(given)
                    if given
                    else ("all" if not variant.quantized_layers else "0")
                )
                print(
                    f"| {name} | {variant.name} | {metric} | "
                    f"{'-' if value is None else f'{value:.4f}'} | {results.spec.quality.floor:g} | "
                    f"{(variant.size_bytes or 0) / 1024:.0f} | "
                    f"{'-' if not p50 else f'{min(p50):.3f}'} | {layers} |"
                    + ("" if variant.status == "ok" else f" failed: {variant.error}")
                )
                if kept:
                    ranked.append((variant.name, kept))
    for variant_name, kept in ranked:
        top = ", ".join(f"{s.name} {s.value:.4f} ({s.source})" for s in kept.sensitivity[:3])
        tried = ", ".join(f"{count}: {value:.4f}" for count, value in kept.tried)
        print(f"{variant_name}: most sensitive (alone in float) {top}; counts tried {tried}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def estimated(folder: Path, formats: list[str]) -> Any:
    """Core ML's and Core AI's variants, optimized and scored on the host (Core ML: the
    host estimate; Core AI: its own runtime), not measured (neither runs on Linux): the
    ``host`` profile with its formats set to theirs."""
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings
    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.config import load_spec
    from edgeops.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    spec, _ = load_spec(folder / "edgeops.toml")
    pipeline = Pipeline(pm, Workspace(folder / ".edgeops"))
    host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": tuple(formats)})
    return pipeline.optimize(pipeline.convert(spec, [host], MeasureSettings()))


if __name__ == "__main__":
    main()
