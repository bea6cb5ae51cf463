"""TFLite probe overhead: the p50 the probe measures vs an in-process interpreter loop.

Same real model (MediaPipe face detection, or --model), same compute unit and
threads, alternated round by round so drift falls on both. Target: within 3%.

    python3 benchmarks/tflite_probe_overhead.py [--rounds 5] [--compute-unit xnnpack]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from edgeops.files import sha256_file
from edgeops.models import Artifact, MeasureSettings
from edgeops.plugin_manager import make_plugin_manager
from edgeops.testing import test_data_dir

MODEL = test_data_dir() / "models/tflite/mediapipe__face_detection_short_range.tflite"


def in_process_p50_ms(
    model: Path, compute_unit: str, threads: int, runs: int, warmup: int
) -> float:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO
        if compute_unit == "xnnpack"
        else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter = Interpreter(
        model_path=str(model), num_threads=threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    import numpy as np

    details = interpreter.get_input_details()
    feed = [
        np.random.default_rng(0).random(d["shape"], dtype="float32").astype(d["dtype"])
        for d in details
    ]
    samples = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        for d, x in zip(details, feed, strict=True):
            interpreter.set_tensor(d["index"], x)
        interpreter.invoke()
        if i >= warmup:
            samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compute-unit", default="xnnpack")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pm = make_plugin_manager()
    (device,) = [
        d
        for found in pm.hook.edgeops_discover_devices(inventory=None)
        for d in found
        if d.transport == "local"
    ]
    session = pm.hook.edgeops_connect(device=device)
    variant = Artifact(id="bench", format="tflite", path=args.model, sha256=sha256_file(args.model))
    settings = MeasureSettings(
        warmup_runs=20, min_runs=300, max_runs=300, min_duration_s=0.0, threads=args.threads
    )
    probe, loop = [], []
    for _ in range(args.rounds):
        m = pm.hook.edgeops_measure(
            session=session, variant=variant, compute_unit=args.compute_unit, settings=settings
        )
        probe.append(m.p50_ms)
        loop.append(in_process_p50_ms(args.model, args.compute_unit, args.threads, 300, 20))
    ratio = statistics.median(probe) / statistics.median(loop)
    print(
        f"{args.model.name} {args.compute_unit} threads={args.threads}: probe p50 {statistics.median(probe):.4f} ms, "
        f"in-process p50 {statistics.median(loop):.4f} ms, ratio {ratio:.4f} (target within 3%)"
    )


if __name__ == "__main__":
    main()
