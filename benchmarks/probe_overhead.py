"""Probe overhead: the p50 edgeops measures vs an in-process onnxruntime loop.

Same model (the example segmenter's fp32 ONNX variant), same input, same
thread settings, in the same run; the two are alternated so drift falls on
both. Target: the ratio within 3% of 1.

    python3 benchmarks/probe_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgeops.devices.profiles import resolve_profiles
from edgeops.models import MeasureSettings
from edgeops.pipeline import Pipeline, Workspace
from edgeops.pipeline.config import load_spec
from edgeops.plugin_manager import make_plugin_manager

REPO = Path(__file__).resolve().parent.parent


def in_process_p50_ms(model: Path, runs: int, warmup: int, threads: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # as the probe sets them
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    meta = session.get_inputs()[0]
    # The probe's own input: numpy's generator seeded 0, float32 in [0, 1).
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in meta.shape]
    feed = {meta.name: np.random.default_rng(0).random(shape, dtype="float32")}
    for _ in range(warmup):
        session.run(None, feed)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    # One thread: on 2 shared cores a second ORT thread makes both timings
    # swing by 2x with whatever else runs; one thread compares the loops themselves.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    pm = make_plugin_manager()
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="edgeops-bench-")))
    pipeline = Pipeline(pm, workspace)
    spec, _ = load_spec(REPO / "examples" / "segmenter")
    spec = spec.model_copy(update={"recipes": ("fp32",)})
    settings = MeasureSettings(
        rounds=1,
        warmup_runs=10,
        min_runs=args.runs,
        min_duration_s=0.0,
        max_runs=args.runs,
        threads=args.threads,
    )
    results = pipeline.optimize(pipeline.convert(spec, resolve_profiles(["host"], pm), settings))
    variant = results.variants[0]
    device = next(d for found in pm.hook.edgeops_discover_devices(inventory=None) for d in found)

    ratios = []
    for r in range(args.rounds):
        probe_p50 = pipeline.measure(results, [device], settings).measurements[0].p50_ms
        loop_p50 = in_process_p50_ms(variant.path, args.runs, 10, args.threads)
        assert probe_p50 is not None
        ratios.append(probe_p50 / loop_p50)
        print(
            f"round {r + 1}: probe p50 {probe_p50:.3f} ms, in-process p50 {loop_p50:.3f} ms, ratio {ratios[-1]:.4f}"
        )
    ratio = statistics.median(ratios)
    verdict = "PASS" if abs(ratio - 1) <= 0.03 else "FAIL"
    print(
        f"probe overhead: median ratio {ratio:.4f} over {args.rounds} alternations "
        f"({args.runs} runs each) -> {verdict} (target within 3%)"
    )


if __name__ == "__main__":
    main()
