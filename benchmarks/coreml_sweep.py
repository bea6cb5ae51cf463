"""Core ML sweep time: every recipe the sweep proposes, made and host-scored, for the example.

Runs the pipeline's own convert → optimize → evaluate stages for the example
segmenter with the iPhone profiles of the seed (15 Pro, 12, X, SE 2nd gen), in a
fresh cache, on this machine's cores, and prints the time per stage and per
recipe. Target context: seed 000 made 180 variants; see the note printed at the end.

    python3 benchmarks/coreml_sweep.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from edgeops.devices.profiles import resolve_profiles
from edgeops.pipeline import Pipeline, Workspace
from edgeops.pipeline.config import load_spec
from edgeops.plugin_manager import make_plugin_manager

REPO = Path(__file__).resolve().parent.parent
PROFILES = ["iphone15pro", "iphone12", "iphonex", "iphonese2"]


def main() -> None:
    os.environ["EDGEOPS_DISABLE_PLUGINS"] = "tflite,executorch"  # the Core ML sweep alone
    pm = make_plugin_manager()
    pipeline = Pipeline(pm, Workspace(Path(tempfile.mkdtemp(prefix="edgeops-sweep-"))))
    spec, _ = load_spec(REPO / "examples" / "segmenter")
    profiles = [
        p.model_copy(update={"formats": ("coreml",)}) for p in resolve_profiles(PROFILES, pm)
    ]
    started = time.perf_counter()
    converted = pipeline.convert(spec, profiles)
    convert_s = time.perf_counter() - started
    started = time.perf_counter()
    optimized = pipeline.optimize(converted)  # makes every variant, then scores each on the host
    sweep_s = time.perf_counter() - started
    variants = [v for v in optimized.variants if v.format == "coreml"]
    ok = [v for v in variants if v.status == "ok"]
    print(f"convert (torch -> mlprogram, with coremltools import): {convert_s:.1f} s")
    print(
        f"sweep: {len(variants)} recipes, {len(ok)} ok, made and host-scored in {sweep_s:.1f} s "
        f"({sweep_s / max(1, len(variants)):.1f} s per variant) on {os.cpu_count()} cores"
    )
    for v in sorted(variants, key=lambda v: -(v.duration_s or 0)):
        metric = v.quality.metrics.get("iou") if v.quality else None
        print(
            f"  {v.name:<40} {v.duration_s or 0:6.1f} s  {(v.size_bytes or 0) / 1e3:8.1f} kB  "
            f"iou {metric if metric is not None else '-'}  {v.status} {v.error or ''}"[:160]
        )
    per_variant_s = sweep_s / max(1, len(variants))
    print(
        f"180 variants at this rate, one process: {180 * per_variant_s / 60:.1f} min; the sweep is "
        "one process today, so 10 minutes needs per-recipe worker processes across cores"
    )


if __name__ == "__main__":
    main()
